import CNcursesw
import Foundation

/// The one handle on the terminal: curses state is process-global, so exactly one of these lives while the
/// workbench is on screen, and closing it restores the terminal.
public final class Terminal {
    public private(set) var isOpen = false

    public init() {}

    /// Enters curses mode: raw keys, no echo, keypad decoding, colours when the terminal has them.
    public func open() {
        guard !isOpen else { return }
        setlocale(LC_ALL, "")  // without it braille and block characters print as garbage
        initscr()
        raw()
        noecho()
        keypad(spm_stdscr(), true)
        curs_set(0)
        if has_colors() { start_color(); use_default_colors() }
        isOpen = true
    }

    /// Screen size in cells.
    public var size: (rows: Int, columns: Int) {
        var rows: Int32 = 0, columns: Int32 = 0
        spm_getmaxyx(spm_stdscr(), &rows, &columns)
        return (Int(rows), Int(columns))
    }

    /// Leaves curses mode and gives the terminal back as it was.
    public func close() {
        guard isOpen else { return }
        endwin()
        isOpen = false
    }

    deinit { close() }
}
