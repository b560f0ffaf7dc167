import Diffusion
import Testing
@testable import Membrane

@Suite struct TestbedDetectorTests {
    /// Shares of fresh procedural images (a seed the thresholds were not tuned on) whose attributes the detector
    /// reads as drawn, clean and degraded as a small generative model would.
    static func accuracies(count: Int, degradation: TestbedDegradation?) -> [TestbedConceptKind: Double] {
        let world = TestbedWorld()
        let detector = TestbedDetector()
        var generator = TestbedGenerator(seed: 2026)
        var correct: [TestbedConceptKind: Int] = [:]
        for index in 0..<count {
            let scene = world.scene(seed: 424_242, index: index)
            var image = scene.render()
            if let degradation { image = degradation.apply(image, using: &generator) }
            let detection = detector.detect(image)
            for kind in TestbedConceptKind.allCases where detection.agrees(with: scene, on: kind) {
                correct[kind, default: 0] += 1
            }
        }
        return correct.mapValues { Double($0) / Double(count) }
    }

    /// Measured: colour 1.000, shape 1.000, texture 1.000, character 0.998.
    @Test func cleanImagesAreReadAtLeast98PercentRight() {
        let accuracy = Self.accuracies(count: 1000, degradation: nil)
        print("testbed detector accuracy, 1000 clean images:", accuracy.map { "\($0.key.rawValue) \($0.value)" }.sorted())
        for kind in TestbedConceptKind.allCases {
            #expect((accuracy[kind] ?? 0) >= 0.98, "\(kind): \(accuracy[kind] ?? 0)")
        }
    }

    /// Blur σ = 1, noise σ = 0.05, ±1 px shift, ±0.03 per-channel offset.
    @Test func degradedImagesAreReadAtLeast98PercentRightToo() {
        let accuracy = Self.accuracies(count: 1000, degradation: TestbedDegradation())
        print("testbed detector accuracy, 1000 degraded images:", accuracy.map { "\($0.key.rawValue) \($0.value)" }.sorted())
        // Measured: colour 1.000, shape 1.000, texture 0.994, character 0.999.
        for kind in TestbedConceptKind.allCases {
            #expect((accuracy[kind] ?? 0) >= 0.98, "\(kind): \(accuracy[kind] ?? 0)")
        }
    }

    @Test func aGreyImageShowsNothing() {
        let grey = RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 128, count: 32 * 32 * 3))
        let detection = TestbedDetector().detect(grey)
        #expect(detection == TestbedDetection(colours: [], shape: nil, texture: nil, character: nil, foregroundPixels: 0))
        for concept in TestbedConcept.all { #expect(!detection.shows(concept)) }
    }

    @Test func twoColoursAreBothReportedLargestFirst() {
        // Left 20 columns blue, right 12 columns yellow, on white.
        var pixels = [UInt8](repeating: 245, count: 32 * 32 * 3)
        for y in 4..<28 {
            for x in 2..<30 {
                let colour = x < 20 ? TestbedColour.blue.rgb : TestbedColour.yellow.rgb
                pixels[(y * 32 + x) * 3] = colour.red
                pixels[(y * 32 + x) * 3 + 1] = colour.green
                pixels[(y * 32 + x) * 3 + 2] = colour.blue
            }
        }
        let detection = TestbedDetector().detect(RGBImage(width: 32, height: 32, pixels: pixels))
        #expect(detection.colours == [.blue, .yellow])
        #expect(detection.shows(.colour(.yellow)) && !detection.shows(.colour(.red)))
    }

    @Test func aTintedBackgroundIsNotTakenForTheShape() {
        // A red circle on a bluish-grey background (chroma 0.2, above the fill-relative cut of 0.22 × 0.71) reads
        // as a red circle, nothing blue.
        var image = TestbedScene(shape: .circle, colour: .red, background: .lightGrey).render()
        for index in stride(from: 0, to: image.pixels.count, by: 3) where image.pixels[index] == 195 {
            image.pixels[index] = 170
            image.pixels[index + 1] = 180
            image.pixels[index + 2] = 211
        }
        let detection = TestbedDetector().detect(image)
        #expect(detection.colours == [.red])
        #expect(detection.shape == .circle)
    }

    @Test func largerImagesAreResampledFirst() {
        let world = TestbedWorld()
        let detector = TestbedDetector()
        for index in 0..<20 {
            let scene = world.scene(seed: 77, index: index)
            #expect(detector.detect(scene.render(side: 64)).agrees(with: scene), "\(scene)")
        }
    }

    @Test func degradationWithNothingToDoKeepsTheImage() {
        let image = TestbedWorld().sample(seed: 1, index: 0).image
        var generator = TestbedGenerator(seed: 1)
        let none = TestbedDegradation(blurSigma: 0, noiseSigma: 0, jitter: 0, colourShift: 0)
        #expect(none.apply(image, using: &generator) == image)
    }

    @Test func degradationNoiseAndBlurHaveTheirStrength() {
        // Flat grey: blur and jitter change nothing, so the per-channel spread is the noise plus the channel offset.
        let grey = RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 128, count: 32 * 32 * 3))
        var generator = TestbedGenerator(seed: 9)
        let noisy = TestbedDegradation(colourShift: 0).apply(grey, using: &generator)
        let values = noisy.pixels.map { Double($0) / 255 }
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        #expect(abs(deviation - 0.05) < 0.004)
        let kernel = TestbedDegradation.gaussianKernel(sigma: 1)
        #expect(kernel.count == 7 && abs(kernel.reduce(0, +) - 1) < 1e-12 && kernel[3] > kernel[2])
        // A single bright pixel spreads into the kernel's outer product.
        var impulse = [Double](repeating: 0, count: 81)
        impulse[40] = 1
        let spread = TestbedDegradation.convolveSeparable(impulse, width: 9, height: 9, kernel: kernel)
        #expect(abs(spread[40] - kernel[3] * kernel[3]) < 1e-12)
        #expect(abs(spread[41] - kernel[3] * kernel[4]) < 1e-12)
    }
}
