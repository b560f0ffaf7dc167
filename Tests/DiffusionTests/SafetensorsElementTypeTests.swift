import Foundation
import Testing
@testable import Diffusion
import TestSupport

@Suite struct SafetensorsElementTypeTests {
    private func decode(_ type: ElementType, _ bytes: [UInt8]) -> [Float] {
        let count = bytes.count / type.byteSize
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { type.decode($0, into: buffer) }
            initialized = count
        }
    }

    @Test func byteSizesMatchTheFormat() {
        let expected: [ElementType: Int] = [
            .f64: 8, .f32: 4, .f16: 2, .bf16: 2, .f8E4M3: 1, .f8E5M2: 1,
            .i64: 8, .i32: 4, .i16: 2, .i8: 1, .u64: 8, .u32: 4, .u16: 2, .u8: 1, .bool: 1,
        ]
        for type in ElementType.allCases { #expect(type.byteSize == expected[type], "\(type)") }
        #expect(ElementType(rawValue: "F8_E4M3") == .f8E4M3)
        #expect(ElementType(rawValue: "BOOL") == .bool)
    }

    @Test func halfDecodingMatchesFloat16ForAllBitPatterns() {
        let bytes = (0...UInt16.max).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let decoded = decode(.f16, bytes)
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = decoded[Int(bits)]
            if expected.isNaN {
                #expect(actual.isNaN, "bits 0x\(String(bits, radix: 16))")
            } else {
                #expect(actual.bitPattern == expected.bitPattern, "bits 0x\(String(bits, radix: 16))")
            }
        }
    }

    @Test func bfloat16EncodingRoundsToNearestEven() {
        // Independent rounding: pick the nearer of the two bf16 neighbours in Double, ties to the even one.
        func reference(_ value: Float) -> UInt16 {
            let low = UInt16(value.bitPattern >> 16)
            let high = low &+ 1
            let lowValue = Double(Float(bitPattern: UInt32(low) << 16))
            let highValue = Double(Float(bitPattern: UInt32(high) << 16))
            let distanceLow = abs(Double(value) - lowValue)
            let distanceHigh = abs(highValue - Double(value))
            if distanceLow < distanceHigh { return low }
            if distanceHigh < distanceLow { return high }
            return low & 1 == 0 ? low : high
        }
        var generator = SplitMix64(seed: 7)
        var values: [Float] = (0..<20_000).map { _ in
            Float(bitPattern: UInt32.random(in: 0..<0x7F00_0000, using: &generator)) * (Bool.random(using: &generator) ? 1 : -1)
        }
        // Exact ties: halfway between two bf16 values, below an even and below an odd one.
        values += [Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), 1.0, -2.5, 0]
        for value in values {
            #expect(ElementType.bfloat16Bits(value) == reference(value), "\(value)")
        }
        #expect(ElementType.bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)
        #expect(ElementType.bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(Float(bitPattern: UInt32(ElementType.bfloat16Bits(.nan)) << 16).isNaN)
        #expect(Float(bitPattern: UInt32(ElementType.bfloat16Bits(.infinity)) << 16) == .infinity)
    }

    @Test func floatEncodingsRoundTrip() throws {
        var generator = SplitMix64(seed: 11)
        let values: [Float] = (0..<1000).map { _ in Float.random(in: -70_000...70_000, using: &generator) } + [0, -0.0, 1, .infinity]
        for type in [ElementType.f32, .f64] {
            let bytes = try #require(type.encode(values))
            #expect(decode(type, bytes) == values)
        }
        let half = try #require(ElementType.f16.encode(values))
        #expect(decode(.f16, half) == values.map { Float(Float16($0)) })
        let brain = try #require(ElementType.bf16.encode(values))
        #expect(decode(.bf16, brain) == values.map { Float(bitPattern: UInt32(ElementType.bfloat16Bits($0)) << 16) })
        #expect(ElementType.i32.encode(values) == nil)
    }

    @Test func eightBitFloatsDecodeKnownCodes() {
        let e4m3 = decode(.f8E4M3, [0x38, 0x7E, 0x01, 0xB8, 0x08, 0x7F, 0x00])
        #expect(Array(e4m3[0..<5]) == [1.0, 448, 0x1p-9, -1.0, 0x1p-6])
        #expect(e4m3[5].isNaN)
        #expect(e4m3[6] == 0)
        let e5m2 = decode(.f8E5M2, [0x3C, 0x7B, 0x7C, 0xBC, 0x01])
        #expect(e5m2 == [1.0, 57344, .infinity, -1.0, 0x1p-16])
    }

    @Test func integerAndBoolDecodeLittleEndian() {
        #expect(decode(.i64, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == [-2])
        #expect(decode(.i32, [0x01, 0x01, 0x00, 0x00]) == [257])
        #expect(decode(.i16, [0x00, 0x80]) == [-32768])
        #expect(decode(.i8, [0xFF, 0x7F]) == [-1, 127])
        #expect(decode(.u64, [0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]) == [4_294_967_296])
        #expect(decode(.u32, [0xFF, 0xFF, 0xFF, 0xFF]) == [Float(UInt32.max)])
        #expect(decode(.u16, [0x00, 0x80]) == [32768])
        #expect(decode(.u8, [0xFF, 0x00]) == [255, 0])
        #expect(decode(.bool, [0x00, 0x01, 0x05]) == [0, 1, 1])
        // Unaligned source: decode must not assume alignment.
        let unaligned: [UInt8] = [0xAA] + ElementType.f32.encode([3.5, -1])!
        let decodedUnaligned = unaligned.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: 2) { buffer, initialized in
                ElementType.f32.decode(UnsafeRawBufferPointer(rebasing: raw[1...]), into: buffer)
                initialized = 2
            }
        }
        #expect(decodedUnaligned == [3.5, -1])
    }
}
