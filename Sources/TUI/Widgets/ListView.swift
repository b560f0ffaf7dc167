/// One row of a list: a title, optional detail on the right, and an optional on/off mark.
public struct ListItem: Equatable, Sendable {
    public var title: String
    public var detail: String
    public var isOn: Bool?

    public init(title: String, detail: String = "", isOn: Bool? = nil) {
        self.title = title
        self.detail = detail
        self.isOn = isOn
    }
}

/// Which row is selected and which row is at the top; moving keeps the selection visible.
public struct ListSelection: Equatable, Sendable {
    public private(set) var index = 0
    public private(set) var top = 0

    public init() {}

    /// Moves by `delta` rows within `count` items, scrolling so the selection stays within `visibleRows`.
    public mutating func move(by delta: Int, count: Int, visibleRows: Int) {
        guard count > 0 else { index = 0; top = 0; return }
        index = min(max(0, index + delta), count - 1)
        let rows = max(1, visibleRows)
        if index < top { top = index }
        if index >= top + rows { top = index - rows + 1 }
        top = min(top, max(0, count - rows))
    }
}

/// A scrolling list with the selected row highlighted.
public struct ListView: Widget {
    public var items: [ListItem]
    public var selection: ListSelection
    public var emptyMessage: String

    public init(items: [ListItem], selection: ListSelection, emptyMessage: String) {
        self.items = items
        self.selection = selection
        self.emptyMessage = emptyMessage
    }

    public func draw(on surface: inout Surface) {
        guard !items.isEmpty else {
            surface.write(truncated(emptyMessage, toWidth: surface.width), x: 0, y: 0, role: .muted)
            return
        }
        for row in 0..<surface.height {
            let index = selection.top + row
            guard index < items.count else { break }
            let item = items[index]
            let selected = index == selection.index
            let style = surface.style(selected ? .selection : .text)
            surface.write(padded("", toWidth: surface.width), x: 0, y: row, style: style)
            var x = 0
            if let isOn = item.isOn { x = surface.write(isOn ? "[x] " : "[ ] ", x: 0, y: row, style: style) }
            let detailWidth = min(terminalWidth(of: item.detail), max(0, surface.width - x - 4))
            surface.write(truncated(item.title, toWidth: surface.width - x - detailWidth - 1), x: x, y: row,
                          style: style)
            if detailWidth > 0 {
                surface.write(truncated(item.detail, toWidth: detailWidth), x: surface.width - detailWidth,
                              y: row, style: style)
            }
        }
    }
}
