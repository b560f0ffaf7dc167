import Diffusion
import Foundation

/// What a small generative model does to a clean testbed image, imitated: a shift of up to `jitter` pixels,
/// a Gaussian blur, a per-channel colour offset and per-pixel Gaussian noise (intensities in [0, 1]).
/// The detectors are measured on clean images and on images degraded this way.
public struct TestbedDegradation: Sendable, Equatable {
    public var blurSigma: Double
    public var noiseSigma: Double
    /// The largest shift, whole pixels, in each direction.
    public var jitter: Int
    /// The largest offset added to each channel.
    public var colourShift: Double

    public init(blurSigma: Double = 1, noiseSigma: Double = 0.05, jitter: Int = 1, colourShift: Double = 0.03) {
        self.blurSigma = blurSigma
        self.noiseSigma = noiseSigma
        self.jitter = jitter
        self.colourShift = colourShift
    }

    /// `image` degraded with draws from `generator`.
    public func apply(_ image: RGBImage, using generator: inout TestbedGenerator) -> RGBImage {
        let width = image.width, height = image.height
        let dx = jitter > 0 ? generator.index(below: 2 * jitter + 1) - jitter : 0
        let dy = jitter > 0 ? generator.index(below: 2 * jitter + 1) - jitter : 0
        var planes = (0..<3).map { channel in
            (0..<height * width).map { index -> Double in
                // Shifted, edges repeated.
                let x = min(max(index % width - dx, 0), width - 1), y = min(max(index / width - dy, 0), height - 1)
                return Double(image.pixels[(y * width + x) * 3 + channel]) / 255
            }
        }
        if blurSigma > 0 {
            let kernel = Self.gaussianKernel(sigma: blurSigma)
            planes = planes.map { Self.convolveSeparable($0, width: width, height: height, kernel: kernel) }
        }
        let offsets = (0..<3).map { _ in generator.uniform(-colourShift, colourShift) }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in 0..<width * height {
            for channel in 0..<3 {
                let noisy = planes[channel][index] + offsets[channel] + noiseSigma * generator.normal()
                pixels[index * 3 + channel] = UInt8((min(max(noisy, 0), 1) * 255).rounded())
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// A normalised Gaussian over ±3σ.
    static func gaussianKernel(sigma: Double) -> [Double] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        let weights = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// Rows then columns, edges repeated.
    static func convolveSeparable(_ plane: [Double], width: Int, height: Int, kernel: [Double]) -> [Double] {
        let radius = kernel.count / 2
        var rows = [Double](repeating: 0, count: plane.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for (k, weight) in kernel.enumerated() {
                    sum += weight * plane[y * width + min(max(x + k - radius, 0), width - 1)]
                }
                rows[y * width + x] = sum
            }
        }
        var result = [Double](repeating: 0, count: plane.count)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for (k, weight) in kernel.enumerated() {
                    sum += weight * rows[min(max(y + k - radius, 0), height - 1) * width + x]
                }
                result[y * width + x] = sum
            }
        }
        return result
    }
}
