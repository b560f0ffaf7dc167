extension RGBImage {
    /// The image resized as Pillow's `Image.resize(size, Image.BICUBIC)` does it, byte for byte: what
    /// transformers' `CLIPImageProcessor` (PIL backend) feeds CLIP, so embeddings match the reference's.
    ///
    /// Pillow's algorithm (libImaging/Resample.c): the cubic convolution kernel with a = −0.5 and support 2,
    /// widened by the scale factor when shrinking (antialiasing: every source pixel under an output pixel
    /// counts), weights normalised per output pixel and rounded to 22-bit fixed point; a horizontal pass into an
    /// 8-bit image, then a vertical pass, each rounding and clamping to 0…255.
    public func resizedBicubic(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "RGBImage.resizedBicubic: empty size \(newWidth)×\(newHeight)")
        let columns = PillowBicubicWeights(inputSize: width, outputSize: newWidth)
        var wide = [UInt8](repeating: 0, count: newWidth * height * 3)
        for y in 0..<height {
            for x in 0..<newWidth {
                for channel in 0..<3 {
                    var sum = PillowBicubicWeights.rounding
                    for (offset, weight) in columns.weights[x].enumerated() {
                        sum += Int(pixels[(y * width + columns.first[x] + offset) * 3 + channel]) * weight
                    }
                    wide[(y * newWidth + x) * 3 + channel] = PillowBicubicWeights.clampedByte(sum)
                }
            }
        }
        let rows = PillowBicubicWeights(inputSize: height, outputSize: newHeight)
        var resized = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            for x in 0..<newWidth {
                for channel in 0..<3 {
                    var sum = PillowBicubicWeights.rounding
                    for (offset, weight) in rows.weights[y].enumerated() {
                        sum += Int(wide[((rows.first[y] + offset) * newWidth + x) * 3 + channel]) * weight
                    }
                    resized[(y * newWidth + x) * 3 + channel] = PillowBicubicWeights.clampedByte(sum)
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: resized)
    }

    /// The `width`×`height` window whose top-left pixel is (`left`, `top`).
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        precondition(left >= 0 && top >= 0 && cropWidth > 0 && cropHeight > 0
                     && left + cropWidth <= width && top + cropHeight <= height,
                     "RGBImage.cropped: \(cropWidth)×\(cropHeight) at (\(left), \(top)) is not inside \(width)×\(height)")
        var window: [UInt8] = []
        window.reserveCapacity(cropWidth * cropHeight * 3)
        for y in top..<(top + cropHeight) {
            window.append(contentsOf: pixels[((y * width + left) * 3)..<((y * width + left + cropWidth) * 3)])
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: window)
    }
}

/// Pillow's per-output-pixel weights along one axis (`precompute_coeffs` and `normalize_coeffs_8bpc`), in the
/// same double-precision steps so the fixed-point weights come out identical.
private struct PillowBicubicWeights {
    /// Fixed-point fraction bits: 32 − 8 (the pixel) − 2 (headroom for negative lobes).
    static let precisionBits = 22
    /// Added before the shift, so the sum rounds to nearest.
    static let rounding = 1 << (precisionBits - 1)

    /// The first input index each output pixel reads.
    var first: [Int] = []
    /// Its weights, one per input index from `first` on.
    var weights: [[Int]] = []

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale
        let inverseFilterScale = 1 / filterScale  // Pillow multiplies by the inverse; dividing can differ in the last bit
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            // C's (int) truncation toward zero, as Pillow rounds these bounds.
            let start = max(Int(center - support + 0.5), 0)
            let end = min(Int(center + support + 0.5), inputSize)
            let raw = (start..<end).map { Self.cubic((Double($0) - center + 0.5) * inverseFilterScale) }
            let total = raw.reduce(0, +)
            weights.append(raw.map { value in
                let normalised = total == 0 ? value : value / total
                let scaled = normalised * Double(1 << Self.precisionBits)
                return Int(normalised < 0 ? scaled - 0.5 : scaled + 0.5)
            })
            first.append(start)
        }
    }

    /// Keys' cubic convolution kernel with a = −0.5 (Pillow's `bicubic_filter`).
    static func cubic(_ distance: Double) -> Double {
        let a = -0.5, x = abs(distance)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Pillow's `clip8`: the fixed-point sum back to a byte.
    static func clampedByte(_ sum: Int) -> UInt8 {
        if sum >= 1 << (precisionBits + 8) { return 255 }
        if sum <= 0 { return 0 }
        return UInt8(sum >> precisionBits)
    }
}
