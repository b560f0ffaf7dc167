import Foundation
import Testing
@testable import Diffusion
import TestSupport

@Suite struct PNGFileTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/png")

    /// The pattern tools/golden_png.py stored: pixel (x, y) = (16x, 16y, 8(x+y)) on 16×12.
    static func pattern(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        (UInt8(16 * x), UInt8(16 * y), UInt8(8 * (x + y)))
    }

    static func read(_ name: String) throws -> RGBImage {
        try PNGFile.decode(Data(contentsOf: golden.appendingPathComponent(name)), file: name)
    }

    @Test(arguments: ["rgb.png", "palette.png", "rgba-opaque.png"])
    func decodesFilesWrittenByAnotherEncoder(name: String) throws {
        let image = try Self.read(name)
        #expect(image.width == 16 && image.height == 12)
        for y in 0..<12 {
            for x in 0..<16 {
                let (r, g, b) = Self.pattern(x: x, y: y)
                #expect(image[x, y] == (r, g, b), "\(name) at (\(x), \(y))")
            }
        }
    }

    @Test func greyBecomesEqualChannels() throws {
        let image = try Self.read("grey.png")
        for y in 0..<12 {
            for x in 0..<16 {
                let (r, g, b) = Self.pattern(x: x, y: y)
                // Pillow's luma in 16-bit fixed point, which is how the file was made.
                let weighted: Int = Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471
                let luma = UInt8((weighted + 0x8000) >> 16)
                #expect(image[x, y] == (luma, luma, luma))
            }
        }
    }

    @Test func readsTheTextChunksOfAnotherEncoder() throws {
        let text = try PNGFile.textChunks(of: Data(contentsOf: Self.golden.appendingPathComponent("rgb.png")))
        #expect(text.map(\.key) == ["parameters"])
        #expect(text.first?.value == "a red circle\nSteps: 10, Seed: 42")
    }

    @Test func roundTripsPixelsAndText() throws {
        var generator = SplitMix64(seed: 7)
        let pixels = (0..<(33 * 17 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = RGBImage(width: 33, height: 17, pixels: pixels)
        let text = [(key: "parameters", value: "ünïcode prompt, 猫\nSteps: 30"), (key: "membrane", value: "{}")]
        let data = try PNGFile.encode(image, text: text)
        #expect(try PNGFile.decode(data) == image)
        let back = try PNGFile.textChunks(of: data)
        #expect(back.map(\.key) == text.map(\.key) && back.map(\.value) == text.map(\.value))
    }

    @Test func writesAtomicallyAndReadsBack() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("out.png")
        let image = RGBImage(width: 2, height: 1, pixels: [255, 0, 0, 0, 0, 255])
        try PNGFile.write(image, text: [(key: "parameters", value: "seed 1")], to: url)
        let back = try PNGFile.read(from: url)
        #expect(back.image == image && back.text.first?.value == "seed 1")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.png"], "no temporary file left")
        #expect(throws: PNGError.self) { try PNGFile.read(from: folder.appendingPathComponent("missing.png")) }
    }

    @Test func chunkChecksumIsTheStandardCRC32() {
        // Every PNG ends with IEND whose CRC is AE 42 60 82.
        #expect(PNGFile.crc32(Array("IEND".utf8)) == 0xAE42_6082)
    }

    @Test func refusesDamagedFilesWithTheirName() throws {
        let good = try PNGFile.encode(RGBImage(width: 4, height: 4, pixels: Array(repeating: 9, count: 48)))
        #expect(throws: PNGError.self) { try PNGFile.decode(Data("not a png".utf8), file: "x.png") }
        do {
            _ = try PNGFile.decode(good.prefix(good.count / 2), file: "half.png")
            Issue.record("a truncated PNG decoded")
        } catch let error as PNGError {
            #expect(error.description.hasPrefix("half.png: "))
        }
        var damaged = good
        damaged[8 + 4 + 4] = 0xFF  // IHDR width's top byte: the IHDR CRC no longer matches
        #expect(throws: PNGError.self) { try PNGFile.decode(damaged, file: "crc.png") }
        #expect(throws: PNGError.self) { try PNGFile.encode(RGBImage(width: 1, height: 1, pixels: [0, 0, 0]), text: [(key: "", value: "v")]) }
    }
}
