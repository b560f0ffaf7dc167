import Diffusion

/// Images printed into a terminal's scrollback: each character cell is an upper half block "▀" whose foreground
/// is one pixel and background the pixel below it, in 24-bit colour, so a 32×32 image takes 32 columns × 16 rows
/// at its exact pixels (no scaling, no curses; what the headless commands print).
enum TerminalPicture {
    /// `images` (all the same height) side by side, two columns apart; every line ends by resetting the colours.
    static func halfBlocks(_ images: [RGBImage], gap: Int = 2) -> String {
        let height = images.map(\.height).max() ?? 0
        var lines: [String] = []
        for top in stride(from: 0, to: height, by: 2) {
            var line = ""
            for (index, image) in images.enumerated() {
                if index > 0 { line += "\u{1B}[0m" + String(repeating: " ", count: gap) }
                for x in 0..<image.width {
                    let upper = image[x, min(top, image.height - 1)]
                    let lower = image[x, min(top + 1, image.height - 1)]
                    line += "\u{1B}[38;2;\(upper.red);\(upper.green);\(upper.blue)m"
                        + "\u{1B}[48;2;\(lower.red);\(lower.green);\(lower.blue)m▀"
                }
            }
            lines.append(line + "\u{1B}[0m")
        }
        return lines.joined(separator: "\n")
    }
}
