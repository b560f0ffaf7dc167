import Foundation
import Testing
@testable import Diffusion
import TestSupport

@Suite struct SafetensorsFileTests {
    // MARK: Round trips

    @Test func everyDtypeRoundTripsThroughADiskFile() throws {
        var generator = SplitMix64(seed: 1)
        let shapes: [[Int]] = [[3, 5], [7], [], [2, 0, 4], [1, 3, 1, 2]]
        var entries: [SafetensorsEntry] = []
        for (index, type) in ElementType.allCases.enumerated() {
            let shape = shapes[index % shapes.count]
            let count = shape.reduce(1, *) * type.byteSize
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            entries.append(SafetensorsEntry(name: "tensor.\(type.rawValue)", dtype: type, shape: shape, bytes: bytes))
        }
        let directory = try SafetensorsFixtures.temporaryDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("all.safetensors")
        let metadata = ["format": "pt", "note": "ünïcode \"quoted\"\n"]
        try SafetensorsWriter.write(entries, metadata: metadata, to: url)

        let file = try WeightFile.open(url)
        #expect(file.metadata == metadata)
        #expect(Set(file.tensorNames) == Set(entries.map(\.name)))
        for entry in entries {
            let info = try file.info(entry.name)
            #expect(info.dtype == entry.dtype)
            #expect(info.shape == entry.shape)
            #expect(try file.bytes(entry.name) == entry.bytes)
            // floats() agrees with decoding the same bytes directly.
            let expected = [Float](unsafeUninitializedCapacity: entry.bytes.count / entry.dtype.byteSize) { buffer, initialized in
                entry.bytes.withUnsafeBytes { entry.dtype.decode($0, into: buffer) }
                initialized = entry.bytes.count / entry.dtype.byteSize
            }
            let floats = try file.floats(entry.name)
            #expect(floats.count == expected.count)
            #expect(zip(floats, expected).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
        }
        #expect(file.parameterCount == entries.reduce(0) { $0 + $1.bytes.count / $1.dtype.byteSize })
        // Every tensor is aligned for its dtype within the mapping (largest elements first, header padded to 8).
        for entry in entries {
            let address = Int(bitPattern: try file.rawBytes(entry.name).baseAddress)
            #expect(address % entry.dtype.byteSize == 0, "\(entry.name)")
        }
    }

    @Test func floatEntriesRoundTripInEachWritableType() throws {
        let values: [Float] = [0.5, -1.25, 3.0e-3, 65504, 1e-8, 7]
        for type in [ElementType.f32, .f16, .bf16, .f64] {
            let entry = try #require(SafetensorsEntry(name: "w", floats: values, shape: [2, 3], as: type))
            let file = try SafetensorsFile(bytes: try SafetensorsWriter.serialize([entry]), name: "mem")
            let expected: [Float] = switch type {
            case .f16: values.map { Float(Float16($0)) }
            case .bf16: values.map { Float(bitPattern: UInt32(ElementType.bfloat16Bits($0)) << 16) }
            default: values
            }
            #expect(try file.floats("w") == expected, "\(type)")
        }
        #expect(SafetensorsEntry(name: "w", floats: values, shape: [6], as: .i32) == nil)
    }

    @Test func serializationMatchesTheReferenceLayout() throws {
        // Byte sequences from the reference implementation's own tests (huggingface/safetensors tensor.rs).
        let values: [Float] = [0, 1, 2, 3, 4, 5]
        let entry = try #require(SafetensorsEntry(name: "attn.0", floats: values, shape: [1, 2, 3], as: .f32))
        let bytes = try SafetensorsWriter.serialize([entry])
        let header = #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#  // 64 bytes: no padding
        #expect(bytes == SafetensorsFixtures.file(header: header, data: ElementType.f32.encode(values)!))
        #expect(try SafetensorsWriter.serialize([]) == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        #expect(try SafetensorsWriter.serialize([], metadata: ["framework": "pt"])
            == [40, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"__metadata__":{"framework":"pt"}}     "#.utf8))
    }

    @Test func writerRejectsInconsistentEntries() throws {
        let directory = try SafetensorsFixtures.temporaryDirectory("badwrite")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("out.safetensors")
        let good = SafetensorsEntry(name: "a", dtype: .f32, shape: [2], bytes: [UInt8](repeating: 0, count: 8))
        let cases: [[SafetensorsEntry]] = [
            [good, good],
            [SafetensorsEntry(name: "b", dtype: .f32, shape: [3], bytes: [UInt8](repeating: 0, count: 8))],
            [SafetensorsEntry(name: "__metadata__", dtype: .u8, shape: [0], bytes: [])],
            [SafetensorsEntry(name: "c", dtype: .u8, shape: [-1], bytes: [])],
        ]
        for entries in cases {
            #expect(throws: WeightsError.self) { try SafetensorsWriter.write(entries, to: url) }
        }
        // Nothing was left behind: no destination, no temporary file.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func failedWriteLeavesThePreviousFileAndNoTemporary() throws {
        let directory = try SafetensorsFixtures.temporaryDirectory("atomic")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.safetensors")
        let first = SafetensorsEntry(name: "a", dtype: .u8, shape: [3], bytes: [1, 2, 3])
        try SafetensorsWriter.write([first], to: url)
        let before = try Data(contentsOf: url)

        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try AtomicFile.write(to: url.path) { descriptor in
                try [UInt8](repeating: 9, count: 4).withUnsafeBytes {
                    try AtomicFile.writeAll($0, to: descriptor, path: url.path)
                }
                throw Interrupted()
            }
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])

        // Overwriting succeeds atomically and the new content reads back.
        try SafetensorsWriter.write([SafetensorsEntry(name: "b", dtype: .u8, shape: [1], bytes: [7])], to: url)
        #expect(try WeightFile.open(url).bytes("b") == [7])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test func headerOrderDoesNotMatterAndZeroSizedTensorsAreAllowed() throws {
        let header = #"{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"# +
            #""empty":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},"# +
            #""a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"__metadata__":null}"#
        let file = try SafetensorsFile(bytes: SafetensorsFixtures.file(header: header, data: [1, 2, 3, 4]), name: "m")
        #expect(file.tensorNames == ["a", "b", "empty"])
        #expect(try file.bytes("b") == [3, 4])
        #expect(try file.floats("empty").isEmpty)
        #expect(file.metadata.isEmpty)
    }

    // MARK: Malformed files: each gives its own one-line error naming the file

    private func expectError(_ header: String, data: [UInt8] = [], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectError(bytes: SafetensorsFixtures.file(header: header, data: data), fragment, sourceLocation: sourceLocation)
    }

    private func expectError(bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(bytes: bytes, name: "bad.safetensors")
            Issue.record("expected an error containing \"\(fragment)\"", sourceLocation: sourceLocation)
        } catch let error as WeightsError {
            let message = error.description
            #expect(message.hasPrefix("bad.safetensors: "), "\(message)", sourceLocation: sourceLocation)
            #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
            #expect(!message.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    private let valid = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    private let eightBytes = [UInt8](repeating: 0, count: 8)

    @Test func structuralProblems() {
        expectError(bytes: [1, 2, 3], "3 bytes is too short")
        expectError(bytes: [200, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], "header length 200 runs past the end of the 10-byte file")
        expectError(bytes: [0, 0, 0, 0, 0, 0, 0, 1] + Array("{}".utf8), "exceeds the 100000000-byte limit")
        expectError(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "exceeds the 100000000-byte limit")
        expectError(bytes: SafetensorsFixtures.file(header: "{\"a\u{00E9}") .map { $0 == 0xA9 ? 0xFF : $0 }, "header is not valid UTF-8")
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, data: eightBytes, "header is not valid JSON")
        expectError(#"{"t":1,}"#, "header is not valid JSON")
        expectError(#"{"t":1} x"#, "header is not valid JSON: characters after the JSON value")
        expectError(#"[1,2]"#, "header is not a JSON object")
        expectError(#""text""#, "header is not a JSON object")
        expectError(String(repeating: "[", count: 10_000), "nested deeper than")
        expectError("", "header is not valid JSON")
    }

    @Test func metadataProblems() {
        expectError(#"{"__metadata__":{"rank":4}}"#, #"__metadata__ value of "rank" is not a string"#)
        expectError(#"{"__metadata__":{"a":"b","c":null}}"#, #"__metadata__ value of "c" is not a string"#)
        expectError(#"{"__metadata__":["a"]}"#, "__metadata__ is not an object")
        expectError(#"{"__metadata__":{"a":"1","a":"2"}}"#, #"duplicate key "a""#)
    }

    @Test func entryProblems() {
        expectError(#"{"t":[1]}"#, #"tensor "t": entry is not an object"#)
        expectError(#"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes, #"tensor "t": missing "dtype""#)
        expectError(#"{"t":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes, #""dtype" is not a string"#)
        expectError(#"{"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes, #"unknown dtype "F33""#)
        expectError(#"{"t":{"dtype":"F32","data_offsets":[0,8]}}"#, data: eightBytes, #"missing "shape""#)
        expectError(#"{"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}"#, data: eightBytes, #""shape" is not an array"#)
        expectError(#"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eightBytes, #""shape" holds -2"#)
        expectError(#"{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: eightBytes, #""shape" holds 2.0"#)
        expectError(#"{"t":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}"#, data: eightBytes, #""shape" holds 2e0"#)
        expectError(#"{"t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, data: eightBytes, #""shape" holds "2""#)
        expectError(#"{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: eightBytes, "expected non-negative integers")
        expectError(#"{"t":{"dtype":"F32","shape":[2]}}"#, data: eightBytes, #"missing "data_offsets""#)
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: eightBytes, #""data_offsets" is [0]"#)
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, data: eightBytes, #""data_offsets" is [-8,0]"#)
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}"#, data: eightBytes, #""data_offsets" is [0,8.5]"#)
        expectError(#"{"t":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes, #"duplicate key "dtype""#)
    }

    @Test func rangeProblems() {
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eightBytes, "begin 8 is after end 0")
        expectError(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: eightBytes, "end 16 is beyond the 8-byte data section")
        expectError(#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eightBytes, "shape × dtype size is 12 bytes but data_offsets span 8")
        expectError(#"{"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: eightBytes, "overflows")
        expectError(#"{"t":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]}}"#, data: eightBytes, "overflows")
        expectError(#"{"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#,
                    data: eightBytes, #"tensor "b" overlaps tensor "a""#)
        expectError(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}"#,
                    data: eightBytes, #"2 bytes before tensor "b" belong to no tensor"#)
        expectError(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#, data: eightBytes, #"4 bytes before tensor "a""#)
        expectError(valid, data: eightBytes + [0, 0, 0], "3 bytes after the last tensor belong to no tensor")
        expectError(valid, data: [0, 0, 0, 0], "end 8 is beyond the 4-byte data section")
        expectError(#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                    data: [1, 2], #"header names "t" twice"#)
    }

    @Test func diskErrorsNameThePath() throws {
        let directory = try SafetensorsFixtures.temporaryDirectory("diskerrors")
        defer { try? FileManager.default.removeItem(at: directory) }
        let short = directory.appendingPathComponent("short.safetensors")
        try Data([1, 2]).write(to: short)
        #expect(throws: WeightsError.fileTooShort(file: short.path, size: 2)) { try WeightFile.open(short) }
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try Data(SafetensorsFixtures.file(header: valid, data: [0, 0])).write(to: truncated)
        #expect(throws: WeightsError.offsetsOutOfRange(file: truncated.path, tensor: "t", end: 8, dataSize: 2)) {
            try WeightFile.open(truncated)
        }
        let missing = directory.appendingPathComponent("missing.safetensors")
        #expect(throws: WeightsError.cannotRead(file: missing.path, reason: "no such file")) { try WeightFile.open(missing) }
        #expect(throws: WeightsError.cannotRead(file: directory.path, reason: "not a regular file")) {
            try WeightFile.open(directory)
        }
        let file = try SafetensorsFile(bytes: SafetensorsFixtures.file(header: valid, data: eightBytes), name: "ok")
        #expect(throws: WeightsError.tensorNotFound(file: "ok", name: "nope")) { try file.floats("nope") }
    }

    // MARK: Pickles

    @Test func picklesAreRefusedByExtensionAndByContent() throws {
        let directory = try SafetensorsFixtures.temporaryDirectory("pickles")
        defer { try? FileManager.default.removeItem(at: directory) }
        let safetensors = SafetensorsFixtures.file(header: valid, data: eightBytes)
        for name in ["model.ckpt", "model.pt", "model.PTH", "pytorch_model.bin"] {
            let url = directory.appendingPathComponent(name)
            // Even valid safetensors bytes are refused under a pickle name: the name says how it will be treated elsewhere.
            try Data(safetensors).write(to: url)
            #expect(throws: WeightsError.pickleRefused(file: url.path)) { try WeightFile.open(url) }
        }
        let rawPickle: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        let zipArchive: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00] + [UInt8](repeating: 0, count: 20)
        for (name, bytes) in [("disguised.safetensors", rawPickle), ("archive.safetensors", zipArchive)] {
            let url = directory.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            #expect(throws: WeightsError.pickleRefused(file: url.path)) { try WeightFile.open(url) }
        }
        let message = WeightsError.pickleRefused(file: "x.ckpt").description
        #expect(message.hasPrefix("x.ckpt: ") && message.contains("convert it") && message.contains("safetensors"))

        // A safetensors whose header length happens to start with the pickle magic (0x80 0x02 = 640) still opens.
        let padded = #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        let header = padded + String(repeating: " ", count: 640 - padded.utf8.count)
        let lookalike = SafetensorsFixtures.file(header: header, data: [42])
        #expect(Array(lookalike.prefix(2)) == [0x80, 0x02])
        let url = directory.appendingPathComponent("lookalike.safetensors")
        try Data(lookalike).write(to: url)
        #expect(try WeightFile.open(url).bytes("t") == [42])
    }
}
