import CNcursesw
import Foundation

/// Terminal size in cells.
public struct TerminalSize: Equatable, Sendable {
    public var columns: Int
    public var rows: Int
    public init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
    }
}

/// Why the workbench could not take over the terminal.
public enum TerminalError: Error, CustomStringConvertible {
    case notATerminal
    case unusableTerminal(String)

    public var description: String {
        switch self {
        case .notATerminal: return "the workbench needs a terminal on stdin and stdout; use a headless command instead"
        case .unusableTerminal(let term): return "TERM=\(term): curses cannot drive this terminal type"
        }
    }
}

/// An image that a pixel protocol (sixel, kitty) draws over a rectangle of cells, outside the cell grid.
public struct GraphicsPlacement: Equatable, Sendable {
    public let rect: Rect
    /// The complete escape sequence that draws the image (the driver positions the cursor first).
    public let escapeSequence: String

    public init(rect: Rect, escapeSequence: String) {
        self.rect = rect
        self.escapeSequence = escapeSequence
    }
}

/// Everything one redraw puts on screen.
public struct Frame: Equatable, Sendable {
    public var cells: CellBuffer
    public var graphics: [GraphicsPlacement]
    public init(cells: CellBuffer, graphics: [GraphicsPlacement] = []) {
        self.cells = cells
        self.graphics = graphics
    }
}

/// What the app needs from a terminal: its size, keys, and a way to show a frame. The curses driver is the
/// real one; `TextTerminal` lets tests run the app without a terminal.
public protocol TerminalDriver: AnyObject {
    var size: TerminalSize { get }
    /// The next key, or nil when none came within the timeout.
    func readKey(timeoutMilliseconds: Int) -> Key?
    /// Shows `frame`, writing only what differs from the frame shown before.
    func present(_ frame: Frame)
    /// Gives the terminal back as it was.
    func close()
}

/// The curses driver: the one handle on the terminal. Curses state is process-global, so exactly one of these
/// is open at a time, and closing it (explicitly, in `deinit`, or at process exit) restores the terminal.
public final class Terminal: TerminalDriver {
    public private(set) var isOpen = false
    private var shown: CellBuffer?
    private var shownGraphics: [GraphicsPlacement] = []
    private var colorPairs: [PairKey: Int32] = [:]
    private var paletteSize: Int32 = 0
    private var currentTimeout: Int = -2
    private var screen: OpaquePointer?

    private struct PairKey: Hashable {
        let foreground: Int32, background: Int32
    }

    public init() {}

    /// Enters curses mode: raw keys (Ctrl-C arrives as a key, so quitting always goes through `close`), no
    /// echo, keypad decoding, colours when the terminal has them.
    public func open() throws(TerminalError) {
        guard !isOpen else { return }
        guard isatty(0) != 0, isatty(1) != 0 else { throw .notATerminal }
        setlocale(LC_ALL, "")  // without it braille and block characters print as garbage
        guard let screen = spm_newterm() else {
            throw .unusableTerminal(ProcessInfo.processInfo.environment["TERM"] ?? "(TERM not set)")
        }
        self.screen = screen
        // If anything ends the process without `close`, the terminal is still restored.
        atexit { if !isendwin() { endwin() } }
        raw()
        noecho()
        nonl()
        keypad(spm_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
        if has_colors() {
            start_color()
            use_default_colors()
            paletteSize = spm_colors()
        }
        isOpen = true
    }

    /// Colours the terminal can show (0 without colour support).
    public var colorCount: Int { Int(paletteSize) }

    public var size: TerminalSize {
        var rows: Int32 = 0, columns: Int32 = 0
        spm_getmaxyx(spm_stdscr(), &rows, &columns)
        return TerminalSize(columns: Int(columns), rows: Int(rows))
    }

    public func readKey(timeoutMilliseconds: Int) -> Key? {
        if timeoutMilliseconds != currentTimeout {
            wtimeout(spm_stdscr(), Int32(timeoutMilliseconds))
            currentTimeout = timeoutMilliseconds
        }
        var value: Int32 = 0
        let kind = spm_read_key(&value)
        if kind == ERR { return nil }
        if kind == spm_key_code_yes() { return Terminal.decodeKeyCode(value) }
        return Terminal.decodeCharacter(value)
    }

    static func decodeCharacter(_ value: Int32) -> Key {
        switch value {
        case 10, 13: return .enter
        case 27: return .escape
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .control(Character(UnicodeScalar(UInt8(value) + 96)))
        default:
            guard let scalar = UnicodeScalar(UInt32(bitPattern: value)) else { return .unknown(value) }
            return .character(Character(scalar))
        }
    }

    static func decodeKeyCode(_ code: Int32) -> Key {
        switch code {
        case spm_key_resize(): return .resize
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_ENTER: return .enter
        case KEY_BACKSPACE: return .backspace
        case KEY_DC: return .delete
        case KEY_BTAB: return .backTab
        case spm_key_f(1)...spm_key_f(24): return .function(Int(code - spm_key_f(0)))
        default: return .unknown(code)
        }
    }

    public func present(_ frame: Frame) {
        guard isOpen else { return }
        let cells = frame.cells
        if shown.map({ $0.width != cells.width || $0.height != cells.height }) ?? true {
            erase()  // after a resize curses' own idea of the screen is stale
        }
        let changed = cells.changedPositions(since: shown)
        for (x, y) in changed {
            let cell = cells[x, y]
            if cell.isContinuation { continue }
            put(cell, x: x, y: y)
        }
        wnoutrefresh(spm_stdscr())
        doupdate()
        // Pixel images live outside the cell grid: send them again only when they changed or cells under
        // them were redrawn (which paints over the image).
        let covered = changed.contains { position in
            frame.graphics.contains { $0.rect.contains(x: position.x, y: position.y) }
        }
        if frame.graphics != shownGraphics || covered {
            for placement in frame.graphics {
                let move = "\u{1B}[\(placement.rect.y + 1);\(placement.rect.x + 1)H"
                spm_write_terminal(move + placement.escapeSequence)
            }
        }
        shown = cells
        shownGraphics = frame.graphics
    }

    private func put(_ cell: Cell, x: Int, y: Int) {
        var text: [wchar_t] = cell.character.unicodeScalars.prefix(4).map { wchar_t(bitPattern: $0.value) }
        text.append(0)
        var attributes: Int32 = 0
        if cell.style.bold { attributes |= spm_attr_bold() }
        if cell.style.reverse { attributes |= spm_attr_reverse() }
        if cell.style.underline { attributes |= spm_attr_underline() }
        _ = spm_put_cell(Int32(y), Int32(x), text, attributes, pair(for: cell.style))
    }

    /// The colour pair for a style's colours, allocated on first use (ncurses' `alloc_pair` recycles old ones).
    private func pair(for style: CellStyle) -> Int32 {
        guard paletteSize > 0 else { return 0 }
        let key = PairKey(foreground: fit(style.foreground), background: fit(style.background))
        if key.foreground == -1 && key.background == -1 { return 0 }
        if let known = colorPairs[key] { return known }
        let number = alloc_pair(key.foreground, key.background)
        let result = number < 0 ? 0 : number
        colorPairs[key] = result
        return result
    }

    /// A colour the terminal can show: indices past its palette fall back to the default colour.
    private func fit(_ color: TerminalColor) -> Int32 {
        let number = color.cursesNumber
        return number < paletteSize ? number : -1
    }

    public func close() {
        guard isOpen else { return }
        endwin()
        if let screen { delscreen(screen) }
        screen = nil
        isOpen = false
    }

    deinit { close() }
}

/// A terminal in memory for tests: keys come from a script, frames are kept as text.
public final class TextTerminal: TerminalDriver {
    public var size: TerminalSize
    public private(set) var frame: Frame?
    public private(set) var presentCount = 0
    public private(set) var closed = false
    private var pendingKeys: [Key]

    public init(size: TerminalSize, keys: [Key] = []) {
        self.size = size
        pendingKeys = keys
    }

    public func send(_ keys: Key...) { pendingKeys.append(contentsOf: keys) }

    /// Once the script runs out the terminal answers Ctrl-C, so a test's app loop always ends.
    public func readKey(timeoutMilliseconds: Int) -> Key? {
        if pendingKeys.isEmpty {
            scriptExhausted = true
            return .control("c")
        }
        return pendingKeys.removeFirst()
    }

    /// Whether the app asked for more keys than the script held.
    public private(set) var scriptExhausted = false

    public func present(_ frame: Frame) {
        self.frame = frame
        presentCount += 1
    }

    public func close() { closed = true }

    /// The last frame's text, one string per row.
    public var lines: [String] { frame?.cells.lines ?? [] }
    public var screenText: String { lines.joined(separator: "\n") }
}
