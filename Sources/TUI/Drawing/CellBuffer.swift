import CNcursesw

/// A terminal colour: the terminal's default or an index into its 256-colour palette (0–15 are the ANSI colours).
public enum TerminalColor: Hashable, Sendable {
    case standard
    case indexed(UInt8)

    /// The number curses expects (-1 for the default colour).
    public var cursesNumber: Int32 {
        switch self {
        case .standard: return -1
        case .indexed(let index): return Int32(index)
        }
    }
}

/// How one cell looks.
public struct CellStyle: Hashable, Sendable {
    public var foreground: TerminalColor
    public var background: TerminalColor
    public var bold: Bool
    public var reverse: Bool
    public var underline: Bool

    public init(foreground: TerminalColor = .standard, background: TerminalColor = .standard,
                bold: Bool = false, reverse: Bool = false, underline: Bool = false) {
        self.foreground = foreground
        self.background = background
        self.bold = bold
        self.reverse = reverse
        self.underline = underline
    }
}

/// One screen cell. A double-width character occupies its cell and marks the next one as its continuation,
/// so drivers skip the continuation cell.
public struct Cell: Hashable, Sendable {
    public var character: Character
    public var style: CellStyle
    public var isContinuation: Bool

    public init(_ character: Character = " ", style: CellStyle = CellStyle(), isContinuation: Bool = false) {
        self.character = character
        self.style = style
        self.isContinuation = isContinuation
    }
}

/// Terminal columns a character takes: 2 for wide (CJK, most emoji), 1 otherwise; control characters
/// take none and are never stored.
public func terminalWidth(of character: Character) -> Int {
    guard let scalar = character.unicodeScalars.first else { return 0 }
    if scalar.value < 0x20 || scalar.value == 0x7F { return 0 }
    let width = Int(spm_wcwidth(scalar.value))
    return width == 2 ? 2 : 1
}

/// Terminal columns a string takes.
public func terminalWidth(of text: String) -> Int {
    text.reduce(0) { $0 + terminalWidth(of: $1) }
}

/// A grid of cells: every frame is drawn into one, and a driver puts on screen only the cells that differ
/// from the frame before.
public struct CellBuffer: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int, fill: Cell = Cell()) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: fill, count: self.width * self.height)
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    /// Fills `rect` (clipped) with `cell`.
    public mutating func fill(_ rect: Rect, with cell: Cell) {
        let area = rect.intersection(bounds)
        for row in area.y..<area.maxY { for column in area.x..<area.maxX { self[column, row] = cell } }
    }

    /// Writes `text` from (x, y), never past `clip` (nor the buffer); returns the column after the last cell
    /// written. Control characters are dropped; a wide character that would straddle the clip edge is not drawn.
    @discardableResult
    public mutating func write(_ text: String, x: Int, y: Int, style: CellStyle, clip: Rect? = nil) -> Int {
        let area = (clip ?? bounds).intersection(bounds)
        guard y >= area.y, y < area.maxY else { return x }
        var column = x
        for character in text {
            let cellWidth = terminalWidth(of: character)
            if cellWidth == 0 { continue }
            if column + cellWidth > area.maxX { break }
            if column >= area.x {
                self[column, y] = Cell(character, style: style)
                if cellWidth == 2 { self[column + 1, y] = Cell(" ", style: style, isContinuation: true) }
            }
            column += cellWidth
        }
        return column
    }

    /// The visible text of one row (continuation cells skipped), for tests and plain-text drivers.
    public func text(row: Int) -> String {
        var line = ""
        for column in 0..<width where !self[column, row].isContinuation { line.append(self[column, row].character) }
        return line
    }

    /// All rows as text, trailing spaces kept.
    public var lines: [String] { (0..<height).map { text(row: $0) } }

    /// Positions whose cells differ from `previous` (all of them when the sizes differ).
    public func changedPositions(since previous: CellBuffer?) -> [(x: Int, y: Int)] {
        var changed: [(x: Int, y: Int)] = []
        let sameSize = previous.map { $0.width == width && $0.height == height } ?? false
        for row in 0..<height {
            for column in 0..<width {
                let index = row * width + column
                if !sameSize || previous!.cells[index] != cells[index] { changed.append((column, row)) }
            }
        }
        return changed
    }
}

/// A region of a buffer that widgets draw into: coordinates are relative to `rect`, drawing is clipped to it.
public struct Surface {
    public var buffer: CellBuffer
    public let rect: Rect
    public let theme: Theme
    /// Pixel images widgets placed (absolute coordinates); the driver draws them after the cells.
    public var graphics: [GraphicsPlacement] = []

    public init(buffer: CellBuffer, rect: Rect, theme: Theme) {
        self.buffer = buffer
        self.rect = rect.intersection(buffer.bounds)
        self.theme = theme
    }

    public var width: Int { rect.width }
    public var height: Int { rect.height }

    public func style(_ role: ColorRole) -> CellStyle { theme.style(role) }

    @discardableResult
    public mutating func write(_ text: String, x: Int, y: Int, role: ColorRole) -> Int {
        write(text, x: x, y: y, style: theme.style(role))
    }

    @discardableResult
    public mutating func write(_ text: String, x: Int, y: Int, style: CellStyle) -> Int {
        buffer.write(text, x: rect.x + x, y: rect.y + y, style: style, clip: rect) - rect.x
    }

    public mutating func put(_ cell: Cell, x: Int, y: Int) {
        guard x >= 0, y >= 0, x < rect.width, y < rect.height else { return }
        buffer[rect.x + x, rect.y + y] = cell
    }

    public mutating func clear(role: ColorRole = .text) {
        buffer.fill(rect, with: Cell(" ", style: theme.style(role)))
    }

    /// Runs `draw` on a sub-surface covering `child` (relative coordinates), keeping what it drew.
    public mutating func within(_ child: Rect, _ draw: (inout Surface) -> Void) {
        let absolute = Rect(x: rect.x + child.x, y: rect.y + child.y, width: child.width, height: child.height)
        var sub = Surface(buffer: buffer, rect: absolute.intersection(rect), theme: theme)
        buffer = CellBuffer(width: 0, height: 0)  // hand the storage over so the child mutates it in place
        draw(&sub)
        buffer = sub.buffer
        graphics += sub.graphics
    }

    /// The local rectangle covering the whole surface.
    public var local: Rect { Rect(x: 0, y: 0, width: rect.width, height: rect.height) }
}

/// Truncates `text` to at most `width` terminal columns, marking the cut with "…".
public func truncated(_ text: String, toWidth width: Int) -> String {
    guard width > 0 else { return "" }
    if terminalWidth(of: text) <= width { return text }
    var result = ""
    var used = 0
    for character in text {
        let w = terminalWidth(of: character)
        if used + w > width - 1 { break }
        result.append(character)
        used += w
    }
    return result + "…"
}

/// Pads or truncates `text` to exactly `width` columns.
public func padded(_ text: String, toWidth width: Int) -> String {
    let cut = truncated(text, toWidth: width)
    return cut + String(repeating: " ", count: max(0, width - terminalWidth(of: cut)))
}
