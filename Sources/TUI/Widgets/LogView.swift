import Foundation

/// One message in the log panel.
public struct LogEntry: Equatable, Sendable {
    public enum Level: String, Sendable { case info, warning, error }
    public let level: Level
    public let message: String
    public let time: Date

    public init(_ level: Level, _ message: String, time: Date = Date()) {
        self.level = level
        self.message = message
        self.time = time
    }
}

/// The messages the workbench has shown, newest last, with a scroll position measured from the end
/// (0 follows new messages). Old messages beyond `capacity` are dropped.
public struct LogBook: Sendable {
    public private(set) var entries: [LogEntry] = []
    public private(set) var scrollBack = 0
    public let capacity: Int

    public init(capacity: Int = 2000) { self.capacity = capacity }

    public mutating func append(_ entry: LogEntry) {
        entries.append(entry)
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        if scrollBack > 0 { scrollBack = min(scrollBack + 1, max(0, entries.count - 1)) }
    }

    /// Scrolls toward older (positive) or newer (negative) messages.
    public mutating func scroll(by lines: Int) {
        scrollBack = min(max(0, scrollBack + lines), max(0, entries.count - 1))
    }

    public mutating func follow() { scrollBack = 0 }
}

/// Draws the last messages that fit (respecting the scroll position), each prefixed with its time.
public struct LogView: Widget {
    public let book: LogBook

    public init(book: LogBook) { self.book = book }

    /// "18:22:29": local time on a 24-hour clock (a 12-hour stamp without AM/PM showed 18:22 as 06:22).
    static func stamp(_ time: Date) -> String {
        let parts = Calendar.current.dateComponents([.hour, .minute, .second], from: time)
        return String(format: "%02d:%02d:%02d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }

    public func draw(on surface: inout Surface) {
        guard surface.height > 0 else { return }
        let end = book.entries.count - book.scrollBack
        let start = max(0, end - surface.height)
        for (row, entry) in book.entries[start..<max(start, end)].enumerated() {
            let role: ColorRole = switch entry.level {
            case .info: .text
            case .warning: .warning
            case .error: .error
            }
            let stamp = LogView.stamp(entry.time)
            let next = surface.write(stamp + " ", x: 0, y: row, role: .muted)
            surface.write(entry.message, x: next, y: row, role: role)
        }
        if book.scrollBack > 0, surface.width > 12 {
            let marker = " ↓ \(book.scrollBack) newer "
            surface.write(marker, x: surface.width - terminalWidth(of: marker), y: surface.height - 1, role: .accent)
        }
    }
}
