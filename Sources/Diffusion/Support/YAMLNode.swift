import CYAML

/// A position in the YAML text, 1-based.
struct YAMLMark: Equatable {
    var line: Int
    var column: Int
}

/// One scalar as written. `isPlain` is false for quoted, literal and folded scalars and for `!!str`-tagged
/// ones: those are always strings, never numbers, booleans or null.
struct YAMLScalar: Equatable {
    var text: String
    var isPlain: Bool
}

struct YAMLEntry {
    var key: String
    var keyMark: YAMLMark
    var value: YAMLNode
}

/// The document as a tree that remembers where each node was written. `id` numbers nodes in document order
/// so the decoder can record which keys of which mapping were read.
struct YAMLNode {
    enum Content {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        case mapping([YAMLEntry])
    }

    var content: Content
    var mark: YAMLMark
    var id: Int

    var isNull: Bool {
        if case .scalar(let scalar) = content { return scalar.isNull }
        return false
    }

    /// The child reached by one path component: a key of a mapping or an index of a sequence.
    func child(_ component: String) -> (node: YAMLNode, line: Int)? {
        switch content {
        case .mapping(let entries):
            guard let entry = entries.first(where: { $0.key == component }) else { return nil }
            return (entry.value, entry.keyMark.line)
        case .sequence(let items):
            guard let index = Int(component), items.indices.contains(index) else { return nil }
            return (items[index], items[index].mark.line)
        case .scalar:
            return nil
        }
    }

    /// The line of the deepest node on `path` that exists (a defaulted field has no line of its own, so the
    /// error points at the mapping that would hold it).
    func line(of path: [String]) -> Int {
        var node = self
        var line = mark.line
        for component in path {
            guard let next = node.child(component) else { break }
            node = next.node
            line = next.line
        }
        return line
    }
}

/// Builds a `YAMLNode` tree from libyaml's event stream. Anchors, aliases and tags other than `!!str` are
/// refused: configs never need them and aliases allow exponential documents.
struct YAMLTreeBuilder {
    /// Deeper documents are refused instead of risking the stack.
    static let maximumDepth = 200

    let file: String

    func build(_ text: String) throws(ConfigError) -> YAMLNode {
        let events = try YAMLEventReader(file: file).read(text)
        var cursor = 0
        var nextID = 0
        var root: YAMLNode?
        while cursor < events.count {
            let event = events[cursor]
            switch event.kind {
            case .streamStart, .streamEnd, .documentEnd:
                cursor += 1
            case .documentStart:
                if root != nil {
                    throw error(.unsupported, event.mark, "", "only one YAML document per file is supported")
                }
                cursor += 1
                root = try node(events, &cursor, &nextID, depth: 0)
            default:
                throw error(.syntax, event.mark, "", "unexpected YAML content")
            }
        }
        guard let root else {
            throw error(.syntax, YAMLMark(line: 1, column: 1), "", "the file is empty")
        }
        return root
    }

    private func node(_ events: [YAMLEvent], _ cursor: inout Int, _ nextID: inout Int, depth: Int,
                      path: [String] = []) throws(ConfigError) -> YAMLNode {
        let event = events[cursor]
        cursor += 1
        let field = renderFieldPath(path)
        guard depth < Self.maximumDepth else {
            throw error(.unsupported, event.mark, field, "nesting deeper than \(Self.maximumDepth) levels")
        }
        if let anchor = event.anchor {
            throw error(.unsupported, event.mark, field, "anchors (&\(anchor)) are not supported; write the value out")
        }
        let id = nextID
        nextID += 1
        switch event.kind {
        case .alias(let name):
            throw error(.unsupported, event.mark, field, "aliases (*\(name)) are not supported; write the value out")
        case .scalar(let scalar):
            return YAMLNode(content: .scalar(scalar), mark: event.mark, id: id)
        case .sequenceStart:
            var items: [YAMLNode] = []
            while events[cursor].kind != .sequenceEnd {
                items.append(try node(events, &cursor, &nextID, depth: depth + 1, path: path + ["\(items.count)"]))
            }
            cursor += 1
            return YAMLNode(content: .sequence(items), mark: event.mark, id: id)
        case .mappingStart:
            var entries: [YAMLEntry] = []
            while events[cursor].kind != .mappingEnd {
                let keyEvent = events[cursor]
                guard case .scalar(let key) = keyEvent.kind, keyEvent.anchor == nil else {
                    throw error(.unsupported, keyEvent.mark, field, "mapping keys must be plain scalars")
                }
                cursor += 1
                if let first = entries.first(where: { $0.key == key.text }) {
                    throw error(.duplicateKey, keyEvent.mark, renderFieldPath(path + [key.text]),
                                "duplicate key (first given on line \(first.keyMark.line))")
                }
                let value = try node(events, &cursor, &nextID, depth: depth + 1, path: path + [key.text])
                entries.append(YAMLEntry(key: key.text, keyMark: keyEvent.mark, value: value))
            }
            cursor += 1
            return YAMLNode(content: .mapping(entries), mark: event.mark, id: id)
        default:
            throw error(.syntax, event.mark, field, "unexpected YAML content")
        }
    }

    private func error(_ kind: ConfigError.Kind, _ mark: YAMLMark, _ field: String, _ message: String) -> ConfigError {
        ConfigError(kind: kind, file: file, line: mark.line, field: field, message: message)
    }
}

extension YAMLScalar {
    /// YAML 1.2 core schema: `null`, `~` and the empty plain scalar.
    var isNull: Bool {
        isPlain && ["", "~", "null", "Null", "NULL"].contains(text)
    }
}

// MARK: - libyaml events

struct YAMLEvent {
    enum Kind: Equatable {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias(String)
        case scalar(YAMLScalar)
        case sequenceStart, sequenceEnd, mappingStart, mappingEnd
    }

    var kind: Kind
    var mark: YAMLMark
    var anchor: String?
}

/// Runs libyaml's event parser over the whole text and copies each event into Swift values, so that no C
/// memory outlives this call.
private struct YAMLEventReader {
    static let stringTag = "tag:yaml.org,2002:str"

    let file: String

    func read(_ text: String) throws(ConfigError) -> [YAMLEvent] {
        let bytes = Array(text.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else {
            throw ConfigError(kind: .unreadable, file: file, line: nil, field: "", message: "libyaml could not start")
        }
        defer { yaml_parser_delete(&parser) }
        let result: Result<[YAMLEvent], ConfigError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var events: [YAMLEvent] = []
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) != 0 else {
                    return .failure(syntaxError(parser))
                }
                defer { yaml_event_delete(&event) }
                switch convert(event) {
                case .success(let converted):
                    events.append(converted)
                    if converted.kind == .streamEnd { return .success(events) }
                case .failure(let error):
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    private func convert(_ event: yaml_event_t) -> Result<YAMLEvent, ConfigError> {
        let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        var anchor: String?
        var tag: String?
        let kind: YAMLEvent.Kind
        switch event.type {
        case YAML_STREAM_START_EVENT: kind = .streamStart
        case YAML_STREAM_END_EVENT: kind = .streamEnd
        case YAML_DOCUMENT_START_EVENT: kind = .documentStart
        case YAML_DOCUMENT_END_EVENT: kind = .documentEnd
        case YAML_ALIAS_EVENT:
            kind = .alias(string(event.data.alias.anchor) ?? "")
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            anchor = string(scalar.anchor)
            tag = string(scalar.tag)
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let isPlain = scalar.style == YAML_PLAIN_SCALAR_STYLE && tag == nil
            kind = .scalar(YAMLScalar(text: text, isPlain: isPlain))
        case YAML_SEQUENCE_START_EVENT:
            anchor = string(event.data.sequence_start.anchor)
            tag = string(event.data.sequence_start.tag)
            kind = .sequenceStart
        case YAML_SEQUENCE_END_EVENT: kind = .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            anchor = string(event.data.mapping_start.anchor)
            tag = string(event.data.mapping_start.tag)
            kind = .mappingStart
        case YAML_MAPPING_END_EVENT: kind = .mappingEnd
        default:
            return .failure(ConfigError(kind: .syntax, file: file, line: mark.line, field: "",
                                        message: "unexpected YAML event"))
        }
        if let tag, !(tag == Self.stringTag && kind.isScalar) {
            return .failure(ConfigError(kind: .unsupported, file: file, line: mark.line, field: "",
                                        message: "tag '\(tag)' is not supported (only !!str)"))
        }
        return .success(YAMLEvent(kind: kind, mark: mark, anchor: anchor))
    }

    private func syntaxError(_ parser: yaml_parser_t) -> ConfigError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let context = parser.context.map { String(cString: $0) }
        var message = "YAML syntax error: \(problem)"
        if let context { message += " (\(context))" }
        return ConfigError(kind: .syntax, file: file, line: Int(parser.problem_mark.line) + 1, field: "",
                           message: message)
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}

private extension YAMLEvent.Kind {
    var isScalar: Bool {
        if case .scalar = self { return true }
        return false
    }
}
