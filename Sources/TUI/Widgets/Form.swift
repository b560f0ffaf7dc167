/// One editable field: a label, its text, a cursor, and the validation message when the value is wrong.
public struct FormField: Equatable, Sendable {
    public var label: String
    public var value: String
    /// Cursor position in characters, 0…value.count.
    public var cursor: Int
    public var message: String?

    public init(label: String, value: String = "", message: String? = nil) {
        self.label = label
        self.value = value
        cursor = value.count
        self.message = message
    }

    /// Applies an editing key; returns false when the key is not an editing key (the caller handles it).
    /// Editing clears the validation message: it described the old value.
    public mutating func edit(with key: Key) -> Bool {
        var characters = Array(value)
        switch key {
        case .character(let c):
            characters.insert(c, at: cursor)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return true }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case .delete:
            guard cursor < characters.count else { return true }
            characters.remove(at: cursor)
        case .left: cursor = max(0, cursor - 1); return true
        case .right: cursor = min(characters.count, cursor + 1); return true
        case .home, .control("a"): cursor = 0; return true
        case .end, .control("e"): cursor = characters.count; return true
        case .control("u"):
            characters.removeFirst(cursor)
            cursor = 0
        default: return false
        }
        value = String(characters)
        message = nil
        return true
    }
}

/// Fields one under another: labels in a right-aligned column, the focused value highlighted with its cursor,
/// and each validation message on the line below its field.
public struct FormView: Widget {
    public var fields: [FormField]
    public var focused: Int?

    public init(fields: [FormField], focused: Int?) {
        self.fields = fields
        self.focused = focused
    }

    /// Rows the form needs: one per field plus one per message.
    public var height: Int { fields.reduce(0) { $0 + ($1.message == nil ? 1 : 2) } }

    public func draw(on surface: inout Surface) {
        let labelWidth = min(fields.map { terminalWidth(of: $0.label) }.max() ?? 0, surface.width / 3)
        var row = 0
        for (index, field) in fields.enumerated() {
            guard row < surface.height else { return }
            let label = truncated(field.label, toWidth: labelWidth)
            surface.write(label, x: labelWidth - terminalWidth(of: label), y: row, role: .muted)
            let valueX = labelWidth + 2
            surface.write(":", x: labelWidth, y: row, role: .muted)
            let valueWidth = surface.width - valueX
            if index == focused {
                drawFocused(field, on: &surface, x: valueX, y: row, width: valueWidth)
            } else {
                surface.write(truncated(field.value, toWidth: valueWidth), x: valueX, y: row,
                              role: field.message == nil ? .text : .error)
            }
            row += 1
            if let message = field.message, row < surface.height {
                surface.write(truncated("✗ " + message, toWidth: valueWidth), x: valueX, y: row, role: .error)
                row += 1
            }
        }
    }

    /// The focused value scrolls horizontally so the cursor stays visible.
    private func drawFocused(_ field: FormField, on surface: inout Surface, x: Int, y: Int, width: Int) {
        guard width > 1 else { return }
        let characters = Array(field.value)
        let start = max(0, field.cursor - (width - 1))
        var style = surface.style(.text)
        style.underline = true
        surface.write(padded("", toWidth: width), x: x, y: y, style: style)
        var column = x
        for index in start...characters.count {
            guard column < x + width else { break }
            var cellStyle = style
            if index == field.cursor { cellStyle.reverse = true }
            let character: Character = index < characters.count ? characters[index] : " "
            column = surface.write(String(character), x: column, y: y, style: cellStyle)
        }
    }
}
