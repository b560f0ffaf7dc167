/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B. What the pipeline produces, the PNG files
/// hold and the TUI draws.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes do not make a \(width)×\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The colour at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let index = (y * width + x) * 3
        return (pixels[index], pixels[index + 1], pixels[index + 2])
    }
}

extension RGBImage {
    /// `images` (all the size of the first) laid out row by row, `columns` to a row, each enlarged `zoom` times
    /// (nearest neighbour) and framed by a `gap`-pixel mid-grey border: contact sheets and before/after pairs.
    public static func grid(_ images: [RGBImage], columns: Int, zoom: Int = 1, gap: Int = 1) -> RGBImage {
        precondition(!images.isEmpty && columns > 0 && zoom > 0 && gap >= 0, "RGBImage.grid: nothing to lay out")
        let (side, height) = (images[0].width * zoom, images[0].height * zoom)
        let rows = (images.count + columns - 1) / columns
        let width = columns * (side + gap) + gap, total = rows * (height + gap) + gap
        var pixels = [UInt8](repeating: 128, count: width * total * 3)
        for (number, image) in images.enumerated() {
            precondition(image.width * zoom == side && image.height * zoom == height, "RGBImage.grid: sizes differ")
            let left = (number % columns) * (side + gap) + gap, top = (number / columns) * (height + gap) + gap
            for y in 0..<height {
                for x in 0..<side {
                    let source = ((y / zoom) * image.width + x / zoom) * 3
                    let target = ((top + y) * width + left + x) * 3
                    pixels[target] = image.pixels[source]
                    pixels[target + 1] = image.pixels[source + 1]
                    pixels[target + 2] = image.pixels[source + 2]
                }
            }
        }
        return RGBImage(width: width, height: total, pixels: pixels)
    }
}
