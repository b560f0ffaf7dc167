import Diffusion
import Testing
@testable import TUI

@Suite("Image view (libchafa)")
struct ImageViewTests {
    /// A test pattern (not a generation): left half pure red, right half pure blue.
    func halves(width: Int = 32, height: Int = 16) -> RGBImage {
        var pixels: [UInt8] = []
        for _ in 0..<height {
            for x in 0..<width { pixels += x < width / 2 ? [255, 0, 0] : [0, 0, 255] }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// xterm's 256-colour palette entry for an index from the 6×6×6 cube or the grey ramp.
    func rgb(ofPaletteIndex index: UInt8) -> (Int, Int, Int)? {
        let levels = [0, 95, 135, 175, 215, 255]
        if (16...231).contains(index) {
            let n = Int(index) - 16
            return (levels[n / 36], levels[(n / 6) % 6], levels[n % 6])
        }
        if index >= 232 { let v = 8 + 10 * (Int(index) - 232); return (v, v, v) }
        return nil
    }

    /// The colour a cell shows where it is filled: a full block shows the foreground, a space the background.
    func shownColor(_ cell: Cell) -> TerminalColor {
        cell.character == " " ? cell.style.background : cell.style.foreground
    }

    @Test("symbols: each half of the pattern comes out in its colour")
    func symbols() throws {
        guard case .cells(let cells) = ImageRenderer.render(halves(), columns: 8, rows: 4, as: .symbols) else {
            Issue.record("expected cells")
            return
        }
        #expect(cells.width == 8 && cells.height == 4)
        for row in 0..<4 {
            for column in [0, 1, 2, 5, 6, 7] {
                guard case .indexed(let index) = shownColor(cells[column, row]),
                      let (r, g, b) = rgb(ofPaletteIndex: index) else {
                    Issue.record("cell \(column),\(row) has no palette colour")
                    continue
                }
                if column < 4 { #expect(r == 255 && g == 0 && b == 0, "cell \(column),\(row)") }
                else { #expect(r == 0 && g == 0 && b == 255, "cell \(column),\(row)") }
            }
        }
    }

    @Test("ascii mode uses only ASCII characters")
    func ascii() {
        guard case .cells(let cells) = ImageRenderer.render(halves(), columns: 8, rows: 4, as: .ascii) else {
            Issue.record("expected cells")
            return
        }
        #expect(cells.lines.joined().unicodeScalars.allSatisfy { $0.isASCII })
    }

    @Test("sixel and kitty give their escape sequences even where chafa's database says no")
    func pixelProtocols() {
        guard case .graphics(let sixel) = ImageRenderer.render(halves(), columns: 8, rows: 4, as: .sixel),
              case .graphics(let kitty) = ImageRenderer.render(halves(), columns: 8, rows: 4, as: .kitty) else {
            Issue.record("expected graphics")
            return
        }
        #expect(sixel.hasPrefix("\u{1B}P") && sixel.contains("q") && sixel.hasSuffix("\u{1B}\\"))
        #expect(kitty.hasPrefix("\u{1B}_G"))
    }

    @Test("the image widget draws cells in its rectangle, or a placement for pixel protocols")
    func widget() {
        var surface = Surface(buffer: CellBuffer(width: 20, height: 6), rect: Rect(x: 2, y: 1, width: 8, height: 4),
                              theme: .dark)
        ImageView(image: halves(), imageProtocol: .symbols).draw(on: &surface)
        #expect(surface.graphics.isEmpty)
        #expect(surface.buffer[0, 0] == Cell())  // outside the rectangle nothing changed
        #expect(shownColor(surface.buffer[2, 1]) != .standard)
        ImageView(image: halves(), imageProtocol: .sixel).draw(on: &surface)
        #expect(surface.graphics.count == 1 && surface.graphics[0].rect == Rect(x: 2, y: 1, width: 8, height: 4))
    }

    @Test("capability: flags win; auto picks kitty from the environment, sixel from device attributes")
    func capability() {
        let none: () -> [Int]? = { nil }
        #expect(ImageCapability.resolve(.ascii, environment: ["KITTY_WINDOW_ID": "1"], deviceAttributes: none,
                                        utf8: true) == .ascii)
        #expect(ImageCapability.resolve(.sixel, environment: [:], deviceAttributes: none, utf8: true) == .sixel)
        #expect(ImageCapability.resolve(.auto, environment: ["TERM": "xterm-kitty"], deviceAttributes: none,
                                        utf8: true) == .kitty)
        #expect(ImageCapability.resolve(.auto, environment: ["TERM": "xterm"], deviceAttributes: { [62, 4, 22] },
                                        utf8: true) == .sixel)
        #expect(ImageCapability.resolve(.auto, environment: ["TERM": "tmux-256color"], deviceAttributes: { [1, 2] },
                                        utf8: true) == .symbols)
        #expect(ImageCapability.resolve(.auto, environment: [:], deviceAttributes: none, utf8: false) == .ascii)
        #expect(ImageCapability.parseDeviceAttributes("\u{1B}[?62;4;22c") == [62, 4, 22])
        #expect(ImageCapability.parseDeviceAttributes("garbage") == nil)
    }
}
