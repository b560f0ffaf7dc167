import Diffusion
import Foundation
import Testing
@testable import Membrane

/// A contact sheet of world samples (clean rows, then the same samples degraded), enlarged 4× by `RGBImage.grid`,
/// written as a PNG.
/// `tools/testbed-samples.sh` runs this with `TESTBED_SAMPLES_DIR` set to keep the sheet and its captions for
/// eyeballing; otherwise it goes to a temporary folder.
@Suite struct TestbedSampleSheetTests {
    @Test func writesAContactSheetThatReadsBack() throws {
        let world = TestbedWorld()
        let samples = world.samples(seed: 1, indices: 0..<32)
        var generator = TestbedGenerator(seed: 1)
        let degraded = samples.map { TestbedDegradation().apply($0.image, using: &generator) }
        let sheet = RGBImage.grid(samples.map(\.image) + degraded, columns: 8, zoom: 4, gap: 2)
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
        #expect(sheet.width == 8 * (32 * 4 + 2) + 2 && sheet.height == 8 * (32 * 4 + 2) + 2)
        // Sample 9 (second row, second column) enlarged 4×: its pixel (5, 7) fills a 4×4 block.
        let (left, top) = (2 + (32 * 4 + 2), 2 + (32 * 4 + 2))
        for dy in 0..<4 {
            for dx in 0..<4 { #expect(sheet[left + 5 * 4 + dx, top + 7 * 4 + dy] == samples[9].image[5, 7]) }
        }
        #expect(sheet[0, 0] == (128, 128, 128) && sheet[left - 1, top] == (128, 128, 128))
    }
}
