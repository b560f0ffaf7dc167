import Foundation
import Testing
@testable import Diffusion
import TestSupport

/// Thousands of seeded mutations of a valid file. Each must either open into something self-consistent (every
/// range inside the data, ranges tiling it, byte counts matching shapes, every tensor readable) or throw a
/// `WeightsError` — never crash, hang or read out of bounds.
@Suite struct SafetensorsFuzzTests {
    private struct Spec {
        var name: String
        var dtype: String
        var shape: [String]
        var offsets: [String]
    }

    private static let baseSpecs: [Spec] = [
        Spec(name: "lora_unet_a.lora_down.weight", dtype: "F32", shape: ["2", "3"], offsets: ["0", "24"]),
        Spec(name: "lora_unet_a.lora_up.weight", dtype: "F16", shape: ["3", "2"], offsets: ["24", "36"]),
        Spec(name: "lora_unet_a.alpha", dtype: "BF16", shape: [], offsets: ["36", "38"]),
        Spec(name: "ids", dtype: "I64", shape: ["1"], offsets: ["38", "46"]),
        Spec(name: "mask", dtype: "BOOL", shape: ["2"], offsets: ["46", "48"]),
    ]
    private static let dataSize = 48

    private static func headerText(_ specs: [Spec], metadata: String) -> String {
        let entries = specs.map { spec in
            "\"\(spec.name)\":{\"dtype\":\"\(spec.dtype)\",\"shape\":[\(spec.shape.joined(separator: ","))],"
                + "\"data_offsets\":[\(spec.offsets.joined(separator: ","))]}"
        }
        return "{" + ([metadata] + entries).joined(separator: ",") + "}"
    }

    private static let baseMetadata = #""__metadata__":{"ss_network_dim":"1","prompts":"cat,dog"}"#

    private static func randomNumberText(using generator: inout SplitMix64) -> String {
        switch Int.random(in: 0..<8, using: &generator) {
        case 0: return "-1"
        case 1: return "1.5"
        case 2: return "1e3"
        case 3: return String(UInt64.random(in: 0...UInt64.max, using: &generator))
        case 4: return "18446744073709551616"
        case 5: return "\"4\""
        default: return String(Int.random(in: 0...64, using: &generator))
        }
    }

    private static func mutatedHeader(using generator: inout SplitMix64) -> (String, [UInt8]) {
        var specs = baseSpecs
        var metadata = baseMetadata
        var data = (0..<dataSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let edits = Int.random(in: 1...3, using: &generator)
        for _ in 0..<edits {
            let index = Int.random(in: 0..<specs.count, using: &generator)
            switch Int.random(in: 0..<10, using: &generator) {
            case 0:
                guard !specs[index].offsets.isEmpty else { continue }
                specs[index].offsets[Int.random(in: 0..<specs[index].offsets.count, using: &generator)] = randomNumberText(using: &generator)
            case 1:
                if specs[index].shape.isEmpty { specs[index].shape = [randomNumberText(using: &generator)] }
                else { specs[index].shape[Int.random(in: 0..<specs[index].shape.count, using: &generator)] = randomNumberText(using: &generator) }
            case 2:
                let dtypes = ElementType.allCases.map(\.rawValue) + ["F33", "", "f32", "Q4"]
                specs[index].dtype = dtypes[Int.random(in: 0..<dtypes.count, using: &generator)]
            case 3: specs.append(specs[index])  // duplicate name
            case 4: specs[index].name = specs[(index + 1) % specs.count].name
            case 5: _ = specs[index].offsets.popLast()
            case 6: specs.remove(at: index)
            case 7: metadata = [#""__metadata__":{"a":1}"#, #""__metadata__":"x""#, #""__metadata__":null"#,
                                #""__metadata__":{"k":"v","k":"w"}"#][Int.random(in: 0..<4, using: &generator)]
            case 8: data.append(contentsOf: [UInt8](repeating: 0, count: Int.random(in: 1...16, using: &generator)))
            default: data.removeLast(Int.random(in: 1...8, using: &generator))
            }
            if specs.isEmpty { break }
        }
        return (headerText(specs, metadata: metadata), data)
    }

    private static func mutatedBytes(using generator: inout SplitMix64) -> [UInt8] {
        let base = SafetensorsFixtures.file(
            header: headerText(baseSpecs, metadata: baseMetadata),
            data: (0..<dataSize).map { UInt8(truncatingIfNeeded: $0 * 37) })
        var bytes = base
        switch Int.random(in: 0..<5, using: &generator) {
        case 0:  // byte flips anywhere
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[position] ^= UInt8.random(in: 1...255, using: &generator)
            }
        case 1:  // truncation
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
        case 2:  // header length field changed by a little or a lot
            let length = UInt64(bytes.count - 8 - dataSize)
            let newLength: UInt64 = Bool.random(using: &generator)
                ? UInt64(clamping: Int64(length) + Int64.random(in: -12...12, using: &generator))
                : UInt64.random(in: 0...UInt64.max, using: &generator)
            withUnsafeBytes(of: newLength.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        case 3:  // JSON-level edits
            let (header, data) = mutatedHeader(using: &generator)
            bytes = SafetensorsFixtures.file(header: header, data: data)
        default:  // header bytes replaced by random printable or arbitrary bytes
            let headerEnd = bytes.count - dataSize
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 8..<headerEnd, using: &generator)
                bytes[position] = Bool.random(using: &generator)
                    ? Array("{}[],:\"0-e.\\".utf8)[Int.random(in: 0..<12, using: &generator)]
                    : UInt8.random(in: 0x80...0xFF, using: &generator)
            }
        }
        return bytes
    }

    @Test func mutatedFilesOpenConsistentlyOrThrowWeightsError() throws {
        var generator = SplitMix64(seed: 20_240_601)
        let directory = try SafetensorsFixtures.temporaryDirectory("fuzz")
        defer { try? FileManager.default.removeItem(at: directory) }
        var opened = 0
        var rejected = 0
        var messages = Set<String>()
        for iteration in 0..<5000 {
            let bytes = Self.mutatedBytes(using: &generator)
            if iteration % 25 == 0 {
                // The mapped path must judge the file exactly as the in-memory one does.
                let url = directory.appendingPathComponent("fuzz-\(iteration).safetensors")
                try Data(bytes).write(to: url)
                let fromDisk = Result { try WeightFile.open(url).tensors }
                let inMemory = Result { try SafetensorsFile(bytes: bytes, name: url.path).tensors }
                switch (fromDisk, inMemory) {
                case (.failure(let mapped), _) where mapped as? WeightsError == .pickleRefused(file: url.path):
                    break  // a mutated length field can spell pickle magic; only the file-level entry point checks it
                case (.success(let mapped), .success(let copied)): #expect(mapped == copied)
                case (.failure(let mapped), .failure(let copied)): #expect(String(describing: mapped) == String(describing: copied))
                default: Issue.record("iteration \(iteration): disk and memory disagree: \(fromDisk) vs \(inMemory)")
                }
                try FileManager.default.removeItem(at: url)
            }
            do {
                let file = try SafetensorsFile(bytes: bytes, name: "fuzz-\(iteration)")
                opened += 1
                let dataSize = file.dataSection.count
                var covered = 0
                for tensor in file.tensors {
                    #expect(tensor.dataRange.lowerBound == covered)
                    #expect(tensor.dataRange.upperBound <= dataSize)
                    #expect(tensor.dataRange.count == tensor.shape.reduce(1, *) * tensor.dtype.byteSize)
                    covered = tensor.dataRange.upperBound
                    #expect(try file.rawBytes(tensor.name).count == tensor.dataRange.count)
                    #expect(try file.floats(tensor.name).count == tensor.elementCount)
                }
                #expect(covered == dataSize)
            } catch let error as WeightsError {
                rejected += 1
                let message = error.description
                #expect(message.hasPrefix("fuzz-\(iteration): ") && !message.contains("\n"))
                messages.insert(String(message.drop { $0 != ":" }.prefix(40)))
            } catch {
                Issue.record("iteration \(iteration): non-WeightsError \(error)")
            }
        }
        // Both outcomes occur, and rejections are varied (not one catch-all message).
        #expect(opened > 50)
        #expect(rejected > 2500)
        #expect(messages.count > 15)
    }
}
