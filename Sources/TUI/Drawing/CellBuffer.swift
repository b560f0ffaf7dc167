
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

/// Terminal columns a character takes: 2 for East Asian wide and fullwidth characters and wide emoji, 1 otherwise;
/// control characters take none and are never stored. A table rather than `wcwidth`, whose answer depends on the
/// process locale, so layout is the same in tests and on screen.
public func terminalWidth(of character: Character) -> Int {
    guard let scalar = character.unicodeScalars.first else { return 0 }
    let value = scalar.value
    if value < 0x20 || (0x7F..<0xA0).contains(value) { return 0 }
    if value < 0x1100 || (0x2500...0x25FC).contains(value) || (0x2800...0x28FF).contains(value) { return 1 }
    // Binary search over the sorted, disjoint ranges.
    var low = 0, high = wideRanges.count - 1
    while low <= high {
        let middle = (low + high) / 2
        let range = wideRanges[middle]
        if value < range.lowerBound { high = middle - 1 } else if value > range.upperBound { low = middle + 1 }
        else { return 2 }
    }
    return 1
}

private let wideRanges: [ClosedRange<UInt32>] = [
    0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
    0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
    0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
    0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
    0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
    0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55,
    0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F,
    0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
    0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1B000...0x1B2FF, 0x1F004...0x1F004, 0x1F0CF...0x1F0CF,
    0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251, 0x1F300...0x1F320, 0x1F32D...0x1F335,
    0x1F337...0x1F37C, 0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0,
    0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC, 0x1F4FF...0x1F53D,
    0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596, 0x1F5A4...0x1F5A4,
    0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7,
    0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F93A, 0x1F93C...0x1F945,
    0x1F947...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
]

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
