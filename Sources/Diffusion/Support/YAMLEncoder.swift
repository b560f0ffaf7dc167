/// Writes `Encodable` values as block-style YAML that `YAMLDecoder` reads back to the same value: keys in the
/// order the type encodes them (its `CodingKeys` order for synthesized conformances), strings quoted whenever
/// they would otherwise read as something else, `nil` optionals left out.
public struct YAMLEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> String {
        let root = YAMLOutputNode()
        try value.encode(to: YAMLNodeEncoder(node: root, codingPath: []))
        var lines: [String] = []
        switch root.content {
        case .mapping(let entries) where !entries.isEmpty:
            appendEntries(entries, indent: 0, to: &lines)
        case .sequence(let items) where !items.isEmpty:
            appendItems(items, indent: 0, to: &lines)
        default:
            lines.append(root.inlineText ?? "null")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func appendEntries(_ entries: [(key: String, value: YAMLOutputNode)], indent: Int,
                               to lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for (key, value) in entries {
            let keyText = YAMLScalarWriter.string(key)
            if let inline = value.inlineText {
                lines.append("\(pad)\(keyText): \(inline)")
            } else {
                lines.append("\(pad)\(keyText):")
                appendBlock(value, indent: indent + 2, to: &lines)
            }
        }
    }

    private func appendItems(_ items: [YAMLOutputNode], indent: Int, to lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            if let inline = item.inlineText {
                lines.append("\(pad)- \(inline)")
                continue
            }
            // The item's block is written two columns in, then its first line moves up beside the dash.
            var block: [String] = []
            appendBlock(item, indent: indent + 2, to: &block)
            if case .mapping = item.content, let first = block.first {
                lines.append(pad + "- " + first.dropFirst(indent + 2))
                lines.append(contentsOf: block.dropFirst())
            } else {
                lines.append("\(pad)-")
                lines.append(contentsOf: block)
            }
        }
    }

    private func appendBlock(_ node: YAMLOutputNode, indent: Int, to lines: inout [String]) {
        switch node.content {
        case .mapping(let entries): appendEntries(entries, indent: indent, to: &lines)
        case .sequence(let items): appendItems(items, indent: indent, to: &lines)
        case .scalar, .unset: lines.append(String(repeating: " ", count: indent) + (node.inlineText ?? "null"))
        }
    }
}

/// One value being encoded. A class because containers hand out children that are filled in later.
final class YAMLOutputNode {
    enum Content {
        case unset
        case scalar(String)
        case mapping([(key: String, value: YAMLOutputNode)])
        case sequence([YAMLOutputNode])
    }

    var content: Content = .unset

    /// The text after `key: ` or `- ` when the value fits on that line; nil for a non-empty block.
    var inlineText: String? {
        switch content {
        case .unset: return "null"
        case .scalar(let text): return text
        case .mapping(let entries): return entries.isEmpty ? "{}" : nil
        case .sequence(let items): return items.isEmpty ? "[]" : nil
        }
    }

    /// The child under `key`, replacing an earlier one of the same key so the output never repeats a key.
    func child(forKey key: String) -> YAMLOutputNode {
        var entries: [(key: String, value: YAMLOutputNode)] = []
        if case .mapping(let existing) = content { entries = existing }
        let node = YAMLOutputNode()
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = node
        } else {
            entries.append((key, node))
        }
        content = .mapping(entries)
        return node
    }

    func becomeMapping() {
        if case .mapping = content { return }
        content = .mapping([])
    }

    func appendItem() -> YAMLOutputNode {
        var items: [YAMLOutputNode] = []
        if case .sequence(let existing) = content { items = existing }
        let node = YAMLOutputNode()
        items.append(node)
        content = .sequence(items)
        return node
    }

    func becomeSequence() {
        if case .sequence = content { return }
        content = .sequence([])
    }
}

/// How scalars are spelt so that the core schema reads them back as the same type and value.
enum YAMLScalarWriter {
    static func bool(_ value: Bool) -> String { value ? "true" : "false" }

    static func integer<I: FixedWidthInteger>(_ value: I) -> String { "\(value)" }

    static func float<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> String {
        if value.isNaN { return ".nan" }
        if value.isInfinite { return value < 0 ? "-.inf" : ".inf" }
        return "\(value)"  // Swift prints the shortest text that reads back exactly, e.g. 0.0001, 1e-05, 3.0
    }

    static func string(_ value: String) -> String {
        needsQuotes(value) ? doubleQuoted(value) : value
    }

    /// Plain only when nothing could misread it: not empty, not a core-schema (or YAML 1.1) null, bool or
    /// number, ASCII printable, no indicator at the start and no `: ` or ` #` inside.
    static func needsQuotes(_ value: String) -> Bool {
        guard let first = value.unicodeScalars.first, let last = value.unicodeScalars.last else { return true }
        let plain = YAMLScalar(text: value, isPlain: true)
        if plain.isNull || plain.boolValue != nil || plain.looksLikeInteger || plain.floatingValue(Double.self) != nil {
            return true
        }
        let yaml11Words: Set<String> = ["y", "n", "yes", "no", "on", "off"]
        if yaml11Words.contains(value.lowercased()) { return true }
        if "-?:,[]{}#&*!|>'\"%@` ".unicodeScalars.contains(first) || first.properties.numericType != nil
            || value.hasPrefix("...") {
            return true
        }
        if last == " " || last == ":" { return true }
        if value.contains(": ") || value.contains(" #") { return true }
        return value.unicodeScalars.contains { $0.value < 0x20 || $0.value > 0x7E }
    }

    static func doubleQuoted(_ value: String) -> String {
        var text = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            case "\r": text += "\\r"
            case "\0": text += "\\0"
            default:
                switch scalar.value {
                case 0..<0x20, 0x7F...0x9F: text += "\\x" + hex(scalar.value, digits: 2)
                case 0x2028, 0x2029, 0xFEFF: text += "\\u" + hex(scalar.value, digits: 4)
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        return text + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}

// MARK: - Encoder and containers

private struct YAMLNodeEncoder: Encoder {
    let node: YAMLOutputNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeMapping()
        return KeyedEncodingContainer(YAMLMappingEncodingContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        node.becomeSequence()
        return YAMLSequenceEncodingContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        YAMLSingleValueEncodingContainer(node: node, codingPath: codingPath)
    }
}

/// Stores `value` into `node`: scalars directly, everything else through its own `encode(to:)`.
private func encodeValue<T: Encodable>(_ value: T, into node: YAMLOutputNode, codingPath: [CodingKey]) throws {
    if let scalar = scalarText(value) {
        node.content = .scalar(scalar)
    } else {
        try value.encode(to: YAMLNodeEncoder(node: node, codingPath: codingPath))
    }
}

private func scalarText<T>(_ value: T) -> String? {
    switch value {
    case let value as String: return YAMLScalarWriter.string(value)
    case let value as Bool: return YAMLScalarWriter.bool(value)
    case let value as Double: return YAMLScalarWriter.float(value)
    case let value as Float: return YAMLScalarWriter.float(value)
    case let value as Int: return YAMLScalarWriter.integer(value)
    case let value as Int8: return YAMLScalarWriter.integer(value)
    case let value as Int16: return YAMLScalarWriter.integer(value)
    case let value as Int32: return YAMLScalarWriter.integer(value)
    case let value as Int64: return YAMLScalarWriter.integer(value)
    case let value as UInt: return YAMLScalarWriter.integer(value)
    case let value as UInt8: return YAMLScalarWriter.integer(value)
    case let value as UInt16: return YAMLScalarWriter.integer(value)
    case let value as UInt32: return YAMLScalarWriter.integer(value)
    case let value as UInt64: return YAMLScalarWriter.integer(value)
    default: return nil
    }
}

private struct YAMLMappingEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: YAMLOutputNode
    let codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) { node.child(forKey: key.stringValue).content = .scalar("null") }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        YAMLNodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
            .container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        YAMLNodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { YAMLNodeEncoder(node: node, codingPath: codingPath) }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        YAMLNodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct YAMLSequenceEncodingContainer: UnkeyedEncodingContainer {
    let node: YAMLOutputNode
    let codingPath: [CodingKey]

    var count: Int {
        if case .sequence(let items) = node.content { return items.count }
        return 0
    }

    private var nextPath: [CodingKey] { codingPath + [YAMLIndexKey(count)] }

    mutating func encodeNil() { node.appendItem().content = .scalar("null") }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try encodeValue(value, into: node.appendItem(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return YAMLNodeEncoder(node: node.appendItem(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let path = nextPath
        return YAMLNodeEncoder(node: node.appendItem(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let path = nextPath
        return YAMLNodeEncoder(node: node.appendItem(), codingPath: path)
    }
}

private struct YAMLSingleValueEncodingContainer: SingleValueEncodingContainer {
    let node: YAMLOutputNode
    let codingPath: [CodingKey]

    mutating func encodeNil() { node.content = .scalar("null") }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: node, codingPath: codingPath)
    }
}
