import CChafa
import Diffusion
import Foundation

/// How images reach the screen. `symbols` and `ascii` draw coloured characters into cells, so they work in
/// any terminal (and in `tmux capture-pane`); `sixel` and `kitty` send real pixels where the terminal has them.
public enum ImageProtocol: String, CaseIterable, Sendable {
    case symbols, ascii, sixel, kitty
}

/// The `--images` choice: a protocol, or detection.
public enum ImageModeChoice: String, CaseIterable, Sendable {
    case auto, sixel, kitty, symbols, ascii
}

/// Chooses the image protocol for this terminal. chafa's terminal database claims no sixel support for tmux
/// and xterm, so it is not asked: kitty is recognised from its environment, sixel from the terminal's own
/// answer to a Primary Device Attributes query (attribute 4), and a non-UTF-8 locale gets ASCII.
public enum ImageCapability {
    public static func resolve(_ choice: ImageModeChoice, environment: [String: String],
                               deviceAttributes: () -> [Int]?, utf8: Bool) -> ImageProtocol {
        switch choice {
        case .sixel: return .sixel
        case .kitty: return .kitty
        case .symbols: return .symbols
        case .ascii: return .ascii
        case .auto:
            if !utf8 { return .ascii }
            if environment["KITTY_WINDOW_ID"] != nil || environment["TERM"] == "xterm-kitty"
                || ["WezTerm", "ghostty"].contains(environment["TERM_PROGRAM"] ?? "") {
                return .kitty
            }
            if let attributes = deviceAttributes(), attributes.contains(4) { return .sixel }
            return .symbols
        }
    }

    /// Parses a Primary Device Attributes reply (`ESC [ ? 62 ; 4 ; 22 c`) into its numbers.
    public static func parseDeviceAttributes(_ reply: String) -> [Int]? {
        guard let start = reply.range(of: "\u{1B}[?"), let end = reply[start.upperBound...].firstIndex(of: "c")
        else { return nil }
        return reply[start.upperBound..<end].split(separator: ";").compactMap { Int($0) }
    }
}

/// What an image turns into: coloured cells, or an escape sequence that paints pixels over a cell rectangle.
public enum ImageRendering: Sendable {
    case cells(CellBuffer)
    case graphics(String)
}

/// Converts images for the terminal with libchafa's canvas API.
public enum ImageRenderer {
    /// Renders `image` to fit `columns` × `rows` cells. `paletteSize` is the terminal's colour count (cells use
    /// 256- or 16-colour indices to match curses); `cellPixels` is one cell's size in pixels, used by sixel/kitty.
    public static func render(_ image: RGBImage, columns: Int, rows: Int, as imageProtocol: ImageProtocol,
                              paletteSize: Int = 256, cellPixels: (width: Int, height: Int) = (10, 20))
        -> ImageRendering {
        guard columns > 0, rows > 0 else { return .cells(CellBuffer(width: 0, height: 0)) }
        let config = chafa_canvas_config_new()
        defer { chafa_canvas_config_unref(config) }
        chafa_canvas_config_set_geometry(config, Int32(columns), Int32(rows))
        chafa_canvas_config_set_cell_geometry(config, Int32(cellPixels.width), Int32(cellPixels.height))
        let symbols = chafa_symbol_map_new()
        defer { chafa_symbol_map_unref(symbols) }
        switch imageProtocol {
        case .symbols:
            chafa_symbol_map_add_by_tags(symbols, ChafaSymbolTags(rawValue: CHAFA_SYMBOL_TAG_BLOCK.rawValue
                | CHAFA_SYMBOL_TAG_HALF.rawValue | CHAFA_SYMBOL_TAG_SPACE.rawValue | CHAFA_SYMBOL_TAG_SOLID.rawValue))
        case .ascii:
            chafa_symbol_map_add_by_tags(symbols, CHAFA_SYMBOL_TAG_ASCII)
        case .sixel, .kitty:
            break
        }
        chafa_canvas_config_set_symbol_map(config, symbols)
        switch imageProtocol {
        case .symbols, .ascii:
            chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_SYMBOLS)
            chafa_canvas_config_set_canvas_mode(config,
                paletteSize >= 256 ? CHAFA_CANVAS_MODE_INDEXED_240 : CHAFA_CANVAS_MODE_INDEXED_16)
        case .sixel:
            chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_SIXELS)
            chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_TRUECOLOR)
        case .kitty:
            chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_KITTY)
            chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_TRUECOLOR)
        }
        guard let canvas = chafa_canvas_new(config) else { return .cells(CellBuffer(width: 0, height: 0)) }
        defer { chafa_canvas_unref(canvas) }
        image.pixels.withUnsafeBufferPointer { bytes in
            chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGB8, bytes.baseAddress, Int32(image.width),
                                         Int32(image.height), Int32(image.width * 3))
        }
        switch imageProtocol {
        case .symbols, .ascii:
            var cells = CellBuffer(width: columns, height: rows)
            for row in 0..<rows {
                for column in 0..<columns {
                    let scalar = UnicodeScalar(chafa_canvas_get_char_at(canvas, Int32(column), Int32(row)))
                        ?? " "
                    var foreground: Int32 = -1, background: Int32 = -1
                    chafa_canvas_get_raw_colors_at(canvas, Int32(column), Int32(row), &foreground, &background)
                    let style = CellStyle(foreground: color(foreground), background: color(background))
                    cells[column, row] = Cell(Character(scalar), style: style)
                }
            }
            return .cells(cells)
        case .sixel, .kitty:
            return .graphics(printed(canvas, for: imageProtocol))
        }
    }

    private static func color(_ raw: Int32) -> TerminalColor {
        (0...255).contains(raw) ? .indexed(UInt8(raw)) : .standard
    }

    /// The canvas as escape sequences. The term-info comes from chafa's database entry for a terminal known to
    /// speak the protocol, because the entry for the real terminal may claim it cannot.
    private static func printed(_ canvas: OpaquePointer, for imageProtocol: ImageProtocol) -> String {
        let database = chafa_term_db_get_default()
        let term = imageProtocol == .sixel ? "TERM=mlterm" : "TERM=xterm-kitty"
        var environment: [UnsafeMutablePointer<CChar>?] = [strdup(term), nil]
        defer { environment.forEach { free($0) } }
        guard let info = environment.withUnsafeMutableBufferPointer({ chafa_term_db_detect(database, $0.baseAddress) })
        else { return "" }
        defer { chafa_term_info_unref(info) }
        guard let printed = chafa_canvas_print(canvas, info) else { return "" }
        let text = String(cString: printed.pointee.str)
        g_string_free(printed, 1)
        return text
    }
}

/// Draws an image into its rectangle, centred; pixel protocols leave the cells blank and add a placement.
public struct ImageView: Widget {
    public var image: RGBImage
    public var imageProtocol: ImageProtocol
    public var paletteSize: Int

    public init(image: RGBImage, imageProtocol: ImageProtocol, paletteSize: Int = 256) {
        self.image = image
        self.imageProtocol = imageProtocol
        self.paletteSize = paletteSize
    }

    public func draw(on surface: inout Surface) {
        surface.clear()
        switch ImageRenderer.render(image, columns: surface.width, rows: surface.height, as: imageProtocol,
                                    paletteSize: paletteSize) {
        case .cells(let cells):
            for row in 0..<cells.height {
                for column in 0..<cells.width { surface.put(cells[column, row], x: column, y: row) }
            }
        case .graphics(let sequence):
            surface.graphics.append(GraphicsPlacement(rect: surface.rect, escapeSequence: sequence))
        }
    }
}
