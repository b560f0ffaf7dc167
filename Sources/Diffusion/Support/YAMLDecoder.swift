import Foundation

/// Decodes `Decodable` values from YAML (parsed by libyaml). Strict on purpose: a key that no decoded type
/// read, a duplicate key, a wrong type or a value its type's `validate()` refuses is a `ConfigError` naming the
/// file, line and field, so a misspelt option never silently falls back to its default.
public struct YAMLDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws -> T {
        let root = try YAMLTreeBuilder(file: file).build(text)
        let session = YAMLDecodingSession(file: file, root: root)
        let value = try session.decode(T.self, from: root, codingPath: [])
        try session.checkEveryKeyWasRead()
        return value
    }

    public func decode<T: Decodable>(_ type: T.Type, fromFileAt url: URL) throws -> T {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError(kind: .unreadable, file: url.path, line: nil, field: "", message: "no such file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ConfigError(kind: .unreadable, file: url.path, line: nil, field: "",
                              message: "cannot read the file (\(Self.reason(error)))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(kind: .unreadable, file: url.path, line: nil, field: "", message: "not UTF-8 text")
        }
        return try decode(type, from: text, file: url.path)
    }

    private static func reason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        return (underlying ?? error as NSError).localizedDescription
    }
}

/// A coding key for list positions, so paths render as `concepts[0]`.
struct YAMLIndexKey: CodingKey {
    var index: Int
    var stringValue: String { "\(index)" }
    var intValue: Int? { index }
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

/// The state one `decode` call shares between its containers: which keys of which mapping were read, and the
/// whole tree for turning coding paths into lines.
final class YAMLDecodingSession {
    let file: String
    let root: YAMLNode
    /// Mapping node id → keys some type read (decoded or tested for null).
    private var readKeys: [Int: Set<String>] = [:]
    /// Mapping node id → keys some type asked about, in the order asked; suggestions for misspellings.
    private var askedKeys: [Int: [String]] = [:]

    init(file: String, root: YAMLNode) {
        self.file = file
        self.root = root
    }

    func opened(_ mapping: YAMLNode) {
        if readKeys[mapping.id] == nil { readKeys[mapping.id] = [] }
    }

    func asked(_ key: String, in mapping: YAMLNode) {
        if askedKeys[mapping.id, default: []].contains(key) == false { askedKeys[mapping.id, default: []].append(key) }
    }

    func read(_ key: String, in mapping: YAMLNode) {
        asked(key, in: mapping)
        readKeys[mapping.id, default: []].insert(key)
    }

    // MARK: Decoding values

    func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode, codingPath: [CodingKey]) throws -> T {
        let value: T
        if let scalarType = T.self as? any YAMLScalarDecodable.Type {
            guard let scalar = try decodeScalar(scalarType, from: node, codingPath: codingPath) as? T else {
                throw error(.typeMismatch, node, codingPath, "expected \(scalarType.expectation)")
            }
            value = scalar
        } else {
            do {
                value = try T(from: YAMLNodeDecoder(node: node, codingPath: codingPath, session: self))
            } catch let error as ConfigError {
                throw error
            } catch let error as ConfigValidationError {
                throw validationError(error, node: node, codingPath: codingPath)
            } catch let decodingError as DecodingError {
                throw translate(decodingError, decoding: T.self, node: node, codingPath: codingPath)
            }
        }
        if let validating = value as? any ConfigValidating {
            do throws(ConfigValidationError) {
                try validating.validate()
            } catch {
                throw validationError(error, node: node, codingPath: codingPath)
            }
        }
        return value
    }

    private func decodeScalar<S: YAMLScalarDecodable>(_ type: S.Type, from node: YAMLNode,
                                                      codingPath: [CodingKey]) throws -> S {
        guard case .scalar(let scalar) = node.content else {
            throw error(.typeMismatch, node, codingPath, "expected \(S.expectation), found \(node.kindDescription)")
        }
        if let value = S(yamlScalar: scalar) { return value }
        throw error(.typeMismatch, node, codingPath, "expected \(S.expectation), found \(scalar.foundDescription)")
    }

    /// A `DecodingError` from a type's own `init(from:)`, e.g. a raw-value enum given a name it lacks.
    private func translate<T>(_ decodingError: DecodingError, decoding type: T.Type, node: YAMLNode,
                              codingPath: [CodingKey]) -> ConfigError {
        let context: DecodingError.Context
        switch decodingError {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            context = c
        @unknown default:
            return error(.invalidValue, node, codingPath, "\(decodingError)")
        }
        if context.codingPath.count == codingPath.count, let choices = enumerationChoices(T.self),
           case .scalar(let scalar) = node.content {
            return error(.invalidValue, node, codingPath,
                         "expected one of \(choices.joined(separator: ", ")), found \(scalar.foundDescription)")
        }
        let path = context.codingPath.map(\.yamlComponent)
        return ConfigError(kind: .invalidValue, file: file, line: root.line(of: path),
                           field: renderFieldPath(path), message: context.debugDescription)
    }

    private func validationError(_ validation: ConfigValidationError, node: YAMLNode,
                                 codingPath: [CodingKey]) -> ConfigError {
        let path = codingPath.map(\.yamlComponent) + validation.path
        return ConfigError(kind: .invalidValue, file: file, line: root.line(of: path),
                           field: renderFieldPath(path), message: validation.message)
    }

    func error(_ kind: ConfigError.Kind, _ node: YAMLNode, _ codingPath: [CodingKey], _ message: String) -> ConfigError {
        ConfigError(kind: kind, file: file, line: node.mark.line,
                    field: renderFieldPath(codingPath.map(\.yamlComponent)), message: message)
    }

    func missingKeyError(_ key: String, in mapping: YAMLNode, entries: [YAMLEntry],
                         codingPath: [CodingKey]) -> ConfigError {
        var message = "missing required key"
        let unread = entries.filter { readKeys[mapping.id]?.contains($0.key) != true }
        if let suspect = unread.min(by: { editDistance($0.key, key) < editDistance($1.key, key) }),
           editDistance(suspect.key, key) <= Self.misspellingDistance(key) {
            message += " ('\(suspect.key)' on line \(suspect.keyMark.line) looks like a misspelling)"
        }
        return ConfigError(kind: .missingKey, file: file, line: mapping.mark.line,
                           field: renderFieldPath(codingPath.map(\.yamlComponent) + [key]), message: message)
    }

    // MARK: Unknown keys

    /// After decoding: every key of every mapping some type opened must have been read by it. The first
    /// unread key is the error; the others are listed after it.
    func checkEveryKeyWasRead() throws {
        var unread: [(entry: YAMLEntry, path: [String], mapping: YAMLNode)] = []
        collectUnread(root, path: [], into: &unread)
        guard let first = unread.first else { return }
        var message = "unknown key"
        let asked = askedKeys[first.mapping.id] ?? []
        let present = Set(mappingKeys(first.mapping))
        let candidates = asked.filter { !present.contains($0) }
        if let suggestion = candidates.min(by: { editDistance($0, first.entry.key) < editDistance($1, first.entry.key) }),
           editDistance(suggestion, first.entry.key) <= Self.misspellingDistance(suggestion) {
            message += " (did you mean '\(suggestion)'?)"
        } else if !asked.isEmpty {
            message += " (known keys here: \(asked.joined(separator: ", ")))"
        }
        if unread.count > 1 {
            let others = unread.dropFirst().map { "\(renderFieldPath($0.path)) on line \($0.entry.keyMark.line)" }
            message += "; also unknown: \(others.joined(separator: ", "))"
        }
        throw ConfigError(kind: .unknownKey, file: file, line: first.entry.keyMark.line,
                          field: renderFieldPath(first.path), message: message)
    }

    private func collectUnread(_ node: YAMLNode, path: [String],
                               into unread: inout [(entry: YAMLEntry, path: [String], mapping: YAMLNode)]) {
        switch node.content {
        case .scalar:
            return
        case .sequence(let items):
            for (index, item) in items.enumerated() { collectUnread(item, path: path + ["\(index)"], into: &unread) }
        case .mapping(let entries):
            // A mapping nobody opened was decoded some other way (or its key is already reported).
            guard let read = readKeys[node.id] else { return }
            for entry in entries {
                if read.contains(entry.key) {
                    collectUnread(entry.value, path: path + [entry.key], into: &unread)
                } else {
                    unread.append((entry, path + [entry.key], node))
                }
            }
        }
    }

    private func mappingKeys(_ node: YAMLNode) -> [String] {
        if case .mapping(let entries) = node.content { return entries.map(\.key) }
        return []
    }

    private static func misspellingDistance(_ key: String) -> Int { max(2, min(3, key.count / 3)) }
}

// MARK: - Decoder and containers

private struct YAMLNodeDecoder: Decoder {
    let node: YAMLNode
    let codingPath: [CodingKey]
    let session: YAMLDecodingSession
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let entries) = node.content else {
            throw session.error(.typeMismatch, node, codingPath, "expected a mapping, found \(node.kindDescription)")
        }
        session.opened(node)
        return KeyedDecodingContainer(YAMLMappingContainer<Key>(
            mapping: node, entries: entries, codingPath: codingPath, session: session))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let items) = node.content else {
            throw session.error(.typeMismatch, node, codingPath, "expected a list, found \(node.kindDescription)")
        }
        return YAMLSequenceContainer(sequence: node, items: items, codingPath: codingPath, session: session)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        YAMLSingleValueContainer(node: node, codingPath: codingPath, session: session)
    }
}

private struct YAMLMappingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let mapping: YAMLNode
    let entries: [YAMLEntry]
    let codingPath: [CodingKey]
    let session: YAMLDecodingSession

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool {
        session.asked(key.stringValue, in: mapping)
        return entries.contains { $0.key == key.stringValue }
    }

    private func value(for key: Key) throws -> YAMLNode {
        guard let entry = entries.first(where: { $0.key == key.stringValue }) else {
            session.asked(key.stringValue, in: mapping)
            throw session.missingKeyError(key.stringValue, in: mapping, entries: entries, codingPath: codingPath)
        }
        session.read(key.stringValue, in: mapping)
        return entry.value
    }

    private func decodeValue<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try session.decode(type, from: value(for: key), codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(for: key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeValue(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeValue(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeValue(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeValue(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeValue(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeValue(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeValue(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeValue(type, forKey: key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decodeValue(type, forKey: key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type,
                                               forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder {
        YAMLNodeDecoder(node: mapping, codingPath: codingPath, session: session)
    }

    func superDecoder(forKey key: Key) throws -> Decoder { try decoder(for: key) }

    private func decoder(for key: Key) throws -> YAMLNodeDecoder {
        YAMLNodeDecoder(node: try value(for: key), codingPath: codingPath + [key], session: session)
    }
}

private struct YAMLSequenceContainer: UnkeyedDecodingContainer {
    let sequence: YAMLNode
    let items: [YAMLNode]
    let codingPath: [CodingKey]
    let session: YAMLDecodingSession
    private(set) var currentIndex = 0

    init(sequence: YAMLNode, items: [YAMLNode], codingPath: [CodingKey], session: YAMLDecodingSession) {
        self.sequence = sequence
        self.items = items
        self.codingPath = codingPath
        self.session = session
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> (YAMLNode, [CodingKey]) {
        guard !isAtEnd else {
            throw session.error(.missingKey, sequence, codingPath, "expected more list items (found \(items.count))")
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [YAMLIndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, path) = try next()
        return try session.decode(type, from: node, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey> {
        let (node, path) = try next()
        return try YAMLNodeDecoder(node: node, codingPath: path, session: session).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let (node, path) = try next()
        return try YAMLNodeDecoder(node: node, codingPath: path, session: session).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let (node, path) = try next()
        return YAMLNodeDecoder(node: node, codingPath: path, session: session)
    }
}

private struct YAMLSingleValueContainer: SingleValueDecodingContainer {
    let node: YAMLNode
    let codingPath: [CodingKey]
    let session: YAMLDecodingSession

    func decodeNil() -> Bool { node.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try session.decode(type, from: node, codingPath: codingPath)
    }
}

// MARK: - Scalars

/// The standard library types read straight from one scalar.
protocol YAMLScalarDecodable {
    /// What the message says was expected: "a number", "true or false".
    static var expectation: String { get }
    init?(yamlScalar: YAMLScalar)
}

extension Bool: YAMLScalarDecodable {
    static var expectation: String { "true or false" }
    init?(yamlScalar: YAMLScalar) {
        guard let value = yamlScalar.boolValue else { return nil }
        self = value
    }
}

extension String: YAMLScalarDecodable {
    static var expectation: String { "a string" }
    /// Any scalar but null reads as its text: `name: 2024` is the string "2024" where a string is expected.
    init?(yamlScalar: YAMLScalar) {
        guard !yamlScalar.isNull else { return nil }
        self = yamlScalar.text
    }
}

extension YAMLScalarDecodable where Self: BinaryFloatingPoint & LosslessStringConvertible {
    static var expectation: String { "a number" }
    init?(yamlScalar: YAMLScalar) {
        guard let value = yamlScalar.floatingValue(Self.self) else { return nil }
        self = value
    }
}

extension Double: YAMLScalarDecodable {}
extension Float: YAMLScalarDecodable {}

extension YAMLScalarDecodable where Self: FixedWidthInteger {
    static var expectation: String {
        Self.isSigned ? "an integer" : "a whole number from 0 to \(Self.max)"
    }
    init?(yamlScalar: YAMLScalar) {
        guard let value = yamlScalar.integerValue(Self.self) else { return nil }
        self = value
    }
}

extension Int: YAMLScalarDecodable {}
extension Int8: YAMLScalarDecodable {}
extension Int16: YAMLScalarDecodable {}
extension Int32: YAMLScalarDecodable {}
extension Int64: YAMLScalarDecodable {}
extension UInt: YAMLScalarDecodable {}
extension UInt8: YAMLScalarDecodable {}
extension UInt16: YAMLScalarDecodable {}
extension UInt32: YAMLScalarDecodable {}
extension UInt64: YAMLScalarDecodable {}

// MARK: - Helpers

extension YAMLNode {
    var kindDescription: String {
        switch content {
        case .scalar(let scalar): return scalar.foundDescription
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

private extension CodingKey {
    var yamlComponent: String {
        if let index = self as? YAMLIndexKey { return "\(index.index)" }
        return stringValue
    }
}

/// The names of a `CaseIterable` raw-value enum's cases, for "expected one of …" messages.
private func enumerationChoices<T>(_ type: T.Type) -> [String]? {
    guard let enumeration = type as? any (CaseIterable & RawRepresentable).Type else { return nil }
    return caseNames(enumeration)
}

private func caseNames<E: CaseIterable & RawRepresentable>(_: E.Type) -> [String] {
    E.allCases.map { "\($0.rawValue)" }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
