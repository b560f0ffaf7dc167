import Foundation

/// A membrane chosen by the user: its file, strength (its gate when fully on) and, optionally, the lowest gate
/// facilitated transport may give it; written `path`, `path:weight` or `path:weight:min_gate` on command lines.
public struct MembraneChoice: Sendable, Equatable {
    public var path: String
    public var weight: Float
    /// nil: the floor the file records for its concepts (none when it records none).
    public var minGate: Float?

    public init(path: String, weight: Float = 1, minGate: Float? = nil) {
        self.path = path
        self.weight = weight
        self.minGate = minGate
    }

    /// "membrane.safetensors" (weight 1), "membrane.safetensors:0.8", or "membrane.safetensors:0.8:1" (weight 0.8,
    /// never gated below 1, i.e. always on). Numbers are read from the end, so a path may itself contain ':'.
    public init(parsing text: String) throws {
        var rest = Substring(text)
        var numbers: [Float] = []
        while numbers.count < 2, let colon = rest.lastIndex(of: ":"), let value = Float(rest[rest.index(after: colon)...]) {
            guard value.isFinite else { throw MembraneChoiceError(text: text, problem: "the numbers after ':' must be finite") }
            numbers.insert(value, at: 0)
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw MembraneChoiceError(text: text, problem: "no file before the ':'") }
        if numbers.count == 2, !(0...1).contains(numbers[1]) {
            throw MembraneChoiceError(text: text, problem: "min_gate (the second number) must be between 0 and 1")
        }
        self.init(path: String(rest), weight: numbers.first ?? 1, minGate: numbers.count == 2 ? numbers[1] : nil)
    }

    /// A membrane of a generation config (`membranes:` in YAML).
    public init(_ use: MembraneUse) {
        self.init(path: use.path, weight: Float(use.weight), minGate: use.minGate.map(Float.init))
    }

    /// The file's name without extension, as screens and infotext show it.
    public var name: String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
}

public struct MembraneChoiceError: Error, CustomStringConvertible {
    public let text: String
    public let problem: String
    public var description: String { "--membrane \(text): \(problem) (expected path[:weight[:min_gate]])" }
}
