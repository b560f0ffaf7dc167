import Foundation

/// A model configuration that does not fit the engine: one line naming the file and the key.
public struct ModelConfigurationError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String
    public var problem: String

    public init(file: String, key: String, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String { "\(file): \(key): \(problem)" }
}

/// diffusers' `config.json` files: unknown keys are ignored (diffusers does the same, and every release adds
/// some), but a key of the wrong type or a value the engine cannot run is an error naming the key.
enum ConfigurationFile {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as ModelConfigurationError {
            throw ModelConfigurationError(file: file, key: error.key, problem: error.problem)
        } catch let DecodingError.typeMismatch(expected, context) {
            throw ModelConfigurationError(file: file, key: path(context), problem: "expected \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) {
            throw ModelConfigurationError(file: file, key: path(context), problem: "expected \(describe(expected)), found null")
        } catch let DecodingError.keyNotFound(key, context) {
            let full = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw ModelConfigurationError(file: file, key: full, problem: "missing")
        } catch let DecodingError.dataCorrupted(context) {
            throw ModelConfigurationError(file: file, key: path(context), problem: context.debugDescription)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, fromFileAt url: URL) throws -> T {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelConfigurationError(file: url.path, key: "(file)", problem: "cannot be read")
        }
        return try decode(type, from: data, file: url.path)
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "(top level)" : path.replacingOccurrences(of: ".[", with: "[")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "a value of type \(type)"
        }
    }
}

/// diffusers accepts a single value or one per level for several UNet options (`attention_head_dim: 8` or
/// `[5, 10, 20, 20]`); both decode to one value per level.
struct PerLevel<Value: Decodable & Sendable & Equatable>: Decodable, Sendable, Equatable {
    var single: Value?
    var list: [Value]?

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Value.self) {
            single = value
        } else {
            list = try container.decode([Value].self)
        }
    }

    init(_ value: Value) { single = value }

    /// One value per level; `key` names the option in errors.
    func values(levels: Int, key: String) throws -> [Value] {
        if let single { return Array(repeating: single, count: levels) }
        guard let list, list.count == levels else {
            throw ModelConfigurationError(file: "", key: key,
                                          problem: "expected one value or \(levels) values (one per level), found \(list?.count ?? 0)")
        }
        return list
    }
}
