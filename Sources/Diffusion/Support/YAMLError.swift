/// Why a configuration file could not be turned into a value. `description` is one line,
/// `<file>:<line>: <field.path>: <what was expected>`, so a user can jump straight to the spot.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable, Equatable {
        case unreadable, syntax, unsupported, typeMismatch, missingKey, unknownKey, duplicateKey, invalidValue
    }

    public var kind: Kind
    public var file: String
    /// 1-based; nil when the problem is the file as a whole (missing, not UTF-8).
    public var line: Int?
    /// Dotted path with list indices in brackets, e.g. `concepts[0].target`; empty for the document itself.
    public var field: String
    public var message: String

    public init(kind: Kind, file: String, line: Int?, field: String, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        var parts = [file]
        if let line { parts[0] += ":\(line)" }
        if !field.isEmpty { parts.append(field) }
        parts.append(message)
        return escapingControlCharacters(parts.joined(separator: ": "))
    }
}

/// Thrown by `ConfigValidating.validate()`: a value that decoded but makes no sense. `path` is relative to
/// the value that validates itself (e.g. `["train", "learning_rate"]` or `["concepts", "0", "target"]`);
/// the YAML decoder turns it into a `ConfigError` with the file and the line of that field.
public struct ConfigValidationError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: [String]
    public var message: String

    public init(_ path: String..., message: String) {
        self.init(path: path, message: message)
    }

    public init(path: [String], message: String) {
        self.path = path
        self.message = message
    }

    public var field: String { renderFieldPath(path) }

    public var description: String { escapingControlCharacters(field.isEmpty ? message : "\(field): \(message)") }
}

/// A decoded value that checks its own ranges. The YAML decoder calls `validate()` on every value it decodes
/// whose type conforms, so errors point at the right line; callers that change a value after loading (command
/// line overrides) call it again.
public protocol ConfigValidating {
    func validate() throws(ConfigValidationError)
}

extension ConfigValidating {
    /// Validates a part held under `path` by its parent, so the error names the full field.
    public func validate(under path: String...) throws(ConfigValidationError) {
        do {
            try validate()
        } catch {
            throw ConfigValidationError(path: path + error.path, message: error.message)
        }
    }
}

/// Keys and values quoted in messages are user text: control characters are shown escaped, never raw.
func escapingControlCharacters(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default: result += scalar.value < 0x20 || scalar.value == 0x7F ? "\u{FFFD}" : String(scalar)
        }
    }
    return result
}

/// `["concepts", "0", "target"]` → `concepts[0].target`: numeric components are list indices.
func renderFieldPath(_ components: [String]) -> String {
    var text = ""
    for component in components {
        if let index = Int(component), index >= 0 {
            text += "[\(index)]"
        } else {
            text += text.isEmpty ? component : ".\(component)"
        }
    }
    return text
}
