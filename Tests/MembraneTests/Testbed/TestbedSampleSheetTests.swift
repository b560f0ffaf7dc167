import Diffusion
import Foundation
import Testing
@testable import Membrane

/// A contact sheet of world samples (clean rows, then the same samples degraded), enlarged 4×, written as a PNG.
/// `tools/testbed-samples.sh` runs this with `TESTBED_SAMPLES_DIR` set to keep the sheet and its captions for
/// eyeballing; otherwise it goes to a temporary folder.
@Suite struct TestbedSampleSheetTests {
    static func sheet(_ images: [RGBImage], columns: Int, zoom: Int) -> RGBImage {
        let side = TestbedWorld.imageSize, cell = side * zoom + 2
        let rows = (images.count + columns - 1) / columns
        let width = columns * cell, height = rows * cell
        var pixels = [UInt8](repeating: 128, count: width * height * 3)
        for (number, image) in images.enumerated() {
            let left = (number % columns) * cell + 1, top = (number / columns) * cell + 1
            for y in 0..<side * zoom {
                for x in 0..<side * zoom {
                    let source = image[x / zoom, y / zoom]
                    let index = ((top + y) * width + left + x) * 3
                    pixels[index] = source.red
                    pixels[index + 1] = source.green
                    pixels[index + 2] = source.blue
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func writesAContactSheetThatReadsBack() throws {
        let world = TestbedWorld()
        let samples = world.samples(seed: 1, indices: 0..<32)
        var generator = TestbedGenerator(seed: 1)
        let degraded = samples.map { TestbedDegradation().apply($0.image, using: &generator) }
        let sheet = Self.sheet(samples.map(\.image) + degraded, columns: 8, zoom: 4)
        let folder = ProcessInfo.processInfo.environment["TESTBED_SAMPLES_DIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("testbed-sheet-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("testbed-samples.png")
        try PNGFile.write(sheet, to: url)
        let detector = TestbedDetector()
        let lines = samples.enumerated().map { number, sample in
            let reading = detector.detect(degraded[number])
            return "\(number): \(sample.caption)  [degraded reads: \(reading.colours.map(\.rawValue)) "
                + "\(reading.shape?.rawValue ?? "-") \(reading.texture?.rawValue ?? "plain") \(reading.character?.rawValue ?? "-")]"
        }
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("testbed-samples.txt"),
                                                         atomically: true, encoding: .utf8)
        #expect(try PNGFile.read(from: url).image == sheet)
        #expect(sheet.width == 8 * (32 * 4 + 2) && sheet.height == 8 * (32 * 4 + 2))
    }
}
