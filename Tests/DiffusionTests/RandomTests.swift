import Foundation
import Testing
@testable import Diffusion

private struct RandomGolden: Decodable {
    struct Case: Decodable {
        let seed: UInt64
        let shape: [Int]
        let kind: String
        let bits: [UInt32]?
        let count: Int?
        let first: [UInt32]?
        let last: [UInt32]?
        let bit_sum: Int64?
        let weighted_bit_sum_mod: Int64?
    }
    struct Draw: Decodable {
        let kind: String
        let count: Int
        let bits: [UInt32]?
        let values: [Int64]?
        let low: Int64?
        let high: Int64?
        let hex: [String]?
    }
    let cases: [Case]
    let sequence_seed: UInt64
    let sequence: [Draw]
    let scalar_kernel_cases: [Case]
}

@Suite("TorchGenerator matches torch's CPU generator bit for bit")
struct RandomTests {
    private let golden: RandomGolden

    init() throws {
        golden = try Goldens.load(RandomGolden.self, from: "random.json")
    }

    @Test("the engine is the standard mt19937 (C++ requires the 10000th output for seed 5489 to be 4123659995)")
    func standardMersenneTwister() {
        var generator = TorchGenerator(seed: 5489)
        #expect(generator.nextUInt32() == 3_499_211_612)
        for _ in 0..<9_998 { _ = generator.nextUInt32() }
        #expect(generator.nextUInt32() == 4_123_659_995)
    }

    @Test("randn and rand for several seeds and shapes (AVX2/AVX-512 kernel)")
    func seedsAndShapes() {
        for entry in golden.cases { check(entry, kernel: .vectorized) }
    }

    @Test("randn with PyTorch's portable kernel (ATEN_CPU_CAPABILITY=default)")
    func scalarKernel() {
        for entry in golden.scalar_kernel_cases { check(entry, kernel: .scalar) }
    }

    private func check(_ entry: RandomGolden.Case, kernel: TorchGenerator.NormalKernel) {
        var generator = TorchGenerator(seed: entry.seed, normalKernel: kernel)
        let count = entry.shape.reduce(1, *)
        let values = entry.kind == "randn" ? generator.randn(count: count) : generator.rand(count: count)
        let bits = values.map(\.bitPattern)
        let label = "\(entry.kind) \(kernel) seed \(entry.seed) shape \(entry.shape)"
        if let expected = entry.bits {
            #expect(bits == expected, "\(label)")
            return
        }
        #expect(Array(bits.prefix(16)) == entry.first, "\(label) first")
        #expect(Array(bits.suffix(16)) == entry.last, "\(label) last")
        #expect(bits.reduce(Int64(0)) { $0 + Int64($1) } == entry.bit_sum, "\(label) checksum")
        // Σ (i + 1)·bits mod 2⁶¹ − 1, as the golden tool computes it: catches reordered values.
        let modulus: Int64 = 2_305_843_009_213_693_951
        var weighted: Int64 = 0
        for (index, value) in bits.enumerated() {
            let product = Int64(value).multipliedFullWidth(by: Int64(index + 1))
            let term = modulus.dividingFullWidth((product.high, product.low)).remainder
            weighted = (weighted + term) % modulus
        }
        #expect(weighted == entry.weighted_bit_sum_mod, "\(label) weighted checksum")
    }

    @Test("state advances across calls, including the cached Box–Muller value")
    func continuingSequence() throws {
        var generator = TorchGenerator(seed: golden.sequence_seed)
        for draw in golden.sequence {
            switch draw.kind {
            case "randn":
                #expect(generator.randn(count: draw.count).map(\.bitPattern) == draw.bits, "randn \(draw.count)")
            case "rand":
                #expect(generator.rand(count: draw.count).map(\.bitPattern) == draw.bits, "rand \(draw.count)")
            case "randint":
                let values = generator.randint(low: draw.low ?? 0, high: draw.high ?? 1, count: draw.count)
                #expect(values == draw.values, "randint \(draw.low ?? 0)..<\(draw.high ?? 1)")
            case "rand64":
                let expected = try #require(draw.hex).compactMap(Double.init)
                #expect(generator.randDouble(count: draw.count) == expected, "rand float64")
            default:
                Issue.record("unknown draw kind \(draw.kind)")
            }
        }
    }
}
