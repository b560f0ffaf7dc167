import Foundation

/// What a piece of the screen is, so a theme can colour it.
public enum ColorRole: Hashable, Sendable {
    case text, muted, accent, title, border, warning, error, success
    case selection, statusBar, hint
    /// The n-th chart line (wraps around the theme's chart colours).
    case series(Int)
}

/// A colour as a theme file writes it: `default`, an ANSI name (`red`, `bright-blue`, …) or a palette
/// index 0–255.
public struct ThemeColor: Hashable, Sendable, Decodable, CustomStringConvertible {
    public let terminalColor: TerminalColor

    public static let ansiNames = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]

    public init(_ terminalColor: TerminalColor) { self.terminalColor = terminalColor }
    public init(_ index: UInt8) { terminalColor = .indexed(index) }

    /// Parses the text form; nil when it is none of the accepted spellings.
    public init?(text: String) {
        let name = text.trimmingCharacters(in: .whitespaces).lowercased()
        if name == "default" { terminalColor = .standard; return }
        if let index = ThemeColor.ansiNames.firstIndex(of: name) { terminalColor = .indexed(UInt8(index)); return }
        if name.hasPrefix("bright-"), let index = ThemeColor.ansiNames.firstIndex(of: String(name.dropFirst(7))) {
            terminalColor = .indexed(UInt8(index + 8))
            return
        }
        if let number = Int(name), (0...255).contains(number) { terminalColor = .indexed(UInt8(number)); return }
        return nil
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            guard (0...255).contains(number) else {
                throw DecodingError.dataCorruptedError(in: container,
                    debugDescription: "expected a palette index 0–255, got \(number)")
            }
            terminalColor = .indexed(UInt8(number))
            return
        }
        let text = try container.decode(String.self)
        guard let color = ThemeColor(text: text) else {
            throw DecodingError.dataCorruptedError(in: container,
                debugDescription: "expected default, an ANSI colour name (red, bright-blue, …) or 0–255, got \"\(text)\"")
        }
        self = color
    }

    public var description: String {
        switch terminalColor {
        case .standard: return "default"
        case .indexed(let index): return "\(index)"
        }
    }
}

/// The colours of every role. Files in `themes/*.yaml` decode into this; `Theme.dark` is built in so the
/// workbench always has a theme even when a file is missing or wrong.
public struct Theme: Decodable, Equatable, Sendable {
    public var name: String
    public var background: ThemeColor
    public var text: ThemeColor
    public var muted: ThemeColor
    public var accent: ThemeColor
    public var border: ThemeColor
    public var warning: ThemeColor
    public var error: ThemeColor
    public var success: ThemeColor
    public var selectionForeground: ThemeColor
    public var selectionBackground: ThemeColor
    public var statusForeground: ThemeColor
    public var statusBackground: ThemeColor
    /// Chart line colours, in series order.
    public var chart: [ThemeColor]
    /// Whether titles and accents are drawn bold (high-contrast themes want it).
    public var boldAccents: Bool

    enum CodingKeys: String, CodingKey {
        case name, background, text, muted, accent, border, warning, error, success
        case selectionForeground = "selection_foreground", selectionBackground = "selection_background"
        case statusForeground = "status_foreground", statusBackground = "status_background"
        case chart, boldAccents = "bold_accents"
    }

    public init(name: String, background: ThemeColor, text: ThemeColor, muted: ThemeColor, accent: ThemeColor,
                border: ThemeColor, warning: ThemeColor, error: ThemeColor, success: ThemeColor,
                selectionForeground: ThemeColor, selectionBackground: ThemeColor,
                statusForeground: ThemeColor, statusBackground: ThemeColor,
                chart: [ThemeColor], boldAccents: Bool) {
        self.name = name
        self.background = background
        self.text = text
        self.muted = muted
        self.accent = accent
        self.border = border
        self.warning = warning
        self.error = error
        self.success = success
        self.selectionForeground = selectionForeground
        self.selectionBackground = selectionBackground
        self.statusForeground = statusForeground
        self.statusBackground = statusBackground
        self.chart = chart
        self.boldAccents = boldAccents
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        background = try c.decode(ThemeColor.self, forKey: .background)
        text = try c.decode(ThemeColor.self, forKey: .text)
        muted = try c.decode(ThemeColor.self, forKey: .muted)
        accent = try c.decode(ThemeColor.self, forKey: .accent)
        border = try c.decode(ThemeColor.self, forKey: .border)
        warning = try c.decode(ThemeColor.self, forKey: .warning)
        error = try c.decode(ThemeColor.self, forKey: .error)
        success = try c.decode(ThemeColor.self, forKey: .success)
        selectionForeground = try c.decode(ThemeColor.self, forKey: .selectionForeground)
        selectionBackground = try c.decode(ThemeColor.self, forKey: .selectionBackground)
        statusForeground = try c.decode(ThemeColor.self, forKey: .statusForeground)
        statusBackground = try c.decode(ThemeColor.self, forKey: .statusBackground)
        chart = try c.decode([ThemeColor].self, forKey: .chart)
        guard !chart.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .chart, in: c,
                debugDescription: "expected at least one chart colour")
        }
        boldAccents = try c.decodeIfPresent(Bool.self, forKey: .boldAccents) ?? false
    }

    /// The built-in theme; `themes/dark.yaml` holds the same values (a test keeps them equal).
    public static let dark = Theme(
        name: "dark", background: ThemeColor(.standard), text: ThemeColor(252), muted: ThemeColor(244),
        accent: ThemeColor(75), border: ThemeColor(240), warning: ThemeColor(214), error: ThemeColor(203),
        success: ThemeColor(114), selectionForeground: ThemeColor(16), selectionBackground: ThemeColor(75),
        statusForeground: ThemeColor(252), statusBackground: ThemeColor(236),
        chart: [ThemeColor(203), ThemeColor(75), ThemeColor(114), ThemeColor(214)], boldAccents: false)

    /// The cell style for a role.
    public func style(_ role: ColorRole) -> CellStyle {
        let bg = background.terminalColor
        switch role {
        case .text: return CellStyle(foreground: text.terminalColor, background: bg)
        case .muted: return CellStyle(foreground: muted.terminalColor, background: bg)
        case .accent: return CellStyle(foreground: accent.terminalColor, background: bg, bold: boldAccents)
        case .title: return CellStyle(foreground: accent.terminalColor, background: bg, bold: true)
        case .border: return CellStyle(foreground: border.terminalColor, background: bg)
        case .warning: return CellStyle(foreground: warning.terminalColor, background: bg, bold: boldAccents)
        case .error: return CellStyle(foreground: error.terminalColor, background: bg, bold: true)
        case .success: return CellStyle(foreground: success.terminalColor, background: bg)
        case .selection:
            return CellStyle(foreground: selectionForeground.terminalColor,
                             background: selectionBackground.terminalColor, bold: boldAccents)
        case .statusBar:
            return CellStyle(foreground: statusForeground.terminalColor, background: statusBackground.terminalColor)
        case .hint:
            return CellStyle(foreground: warning.terminalColor, background: statusBackground.terminalColor,
                             bold: true)
        case .series(let index):
            let color = chart[((index % chart.count) + chart.count) % chart.count]
            return CellStyle(foreground: color.terminalColor, background: bg)
        }
    }
}
