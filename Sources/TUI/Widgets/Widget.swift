/// A piece of the screen: it draws itself into the surface it is given and nowhere else.
public protocol Widget {
    func draw(on surface: inout Surface)
}

/// A bordered box with a title; the content draws inside the border.
public struct Panel {
    public var title: String
    public var focused: Bool

    public init(title: String, focused: Bool = false) {
        self.title = title
        self.focused = focused
    }

    /// Draws the frame and runs `content` on the inner surface (nothing when the panel is too small).
    public func draw(on surface: inout Surface, content: (inout Surface) -> Void) {
        let w = surface.width, h = surface.height
        guard w >= 2, h >= 2 else { return }
        let border = surface.style(focused ? .accent : .border)
        surface.clear()
        surface.write("┌" + String(repeating: "─", count: w - 2) + "┐", x: 0, y: 0, style: border)
        for row in 1..<(h - 1) {
            surface.write("│", x: 0, y: row, style: border)
            surface.write("│", x: w - 1, y: row, style: border)
        }
        surface.write("└" + String(repeating: "─", count: w - 2) + "┘", x: 0, y: h - 1, style: border)
        if w > 6, !title.isEmpty {
            surface.write(" " + truncated(title, toWidth: w - 6) + " ", x: 2, y: 0, role: .title)
        }
        surface.within(surface.local.inset(by: 1), content)
    }
}

/// A single line: left text, and a hint on the right that takes precedence when space is short.
public struct StatusBar: Widget {
    public var left: String
    public var hint: String?

    public init(left: String, hint: String? = nil) {
        self.left = left
        self.hint = hint
    }

    public func draw(on surface: inout Surface) {
        surface.clear(role: .statusBar)
        guard surface.width > 0 else { return }
        var leftSpace = surface.width - 1
        if let hint, !hint.isEmpty {
            let shown = truncated(hint, toWidth: surface.width - 2)
            let hintWidth = terminalWidth(of: shown)
            surface.write(shown, x: surface.width - hintWidth - 1, y: 0, role: .hint)
            leftSpace = surface.width - hintWidth - 3
        }
        if leftSpace > 0 { surface.write(" " + truncated(left, toWidth: leftSpace - 1), x: 0, y: 0, role: .statusBar) }
    }
}

/// A horizontal bar with eighth-block resolution and a percentage.
public struct ProgressBar: Widget {
    public var fraction: Double

    public init(fraction: Double) { self.fraction = fraction }

    static let partials: [Character] = [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// The bar's characters for `width` cells (no label).
    public static func bar(fraction: Double, width: Int) -> String {
        guard width > 0 else { return "" }
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        let eighths = Int((clamped * Double(width * 8)).rounded(.down))
        let full = eighths / 8, remainder = eighths % 8
        var text = String(repeating: "█", count: full)
        if full < width {
            text.append(partials[remainder])
            text += String(repeating: " ", count: width - full - 1)
        }
        return text
    }

    public func draw(on surface: inout Surface) {
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        let label = " \(Int((clamped * 100).rounded(.down)))%"
        let barWidth = surface.width - terminalWidth(of: label)
        guard barWidth > 0 else {
            surface.write(label, x: 0, y: 0, role: .text)
            return
        }
        var barStyle = surface.style(.accent)
        barStyle.background = surface.theme.statusBackground.terminalColor
        surface.write(ProgressBar.bar(fraction: clamped, width: barWidth), x: 0, y: 0, style: barStyle)
        surface.write(label, x: barWidth, y: 0, role: .text)
    }
}
