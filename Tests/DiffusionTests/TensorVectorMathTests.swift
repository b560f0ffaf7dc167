import Foundation
import Testing
@testable import Diffusion
import TestSupport

@Suite struct TensorVectorMathTests {
    /// The vectorised e^x against Double's exp, measured in units in the last place of the Float result,
    /// over the whole range where e^x is neither 0 nor ∞ (including subnormal results) and past both ends.
    @Test func exponentialIsWithinTwoUlpEverywhere() {
        var generator = SplitMix64(seed: 5)
        var inputs: [Float] = stride(from: -110, through: 95, by: 0.0137).map { Float($0) }
        inputs += (0..<20_000).map { _ in Float.random(in: -104...88.7, using: &generator) }
        inputs += [0, -0, 1e-30, -1e-30, 88.72, 88.73, 88.8, -87.3, -103.9, -104.5, .infinity, -.infinity]
        let result = Tensor(inputs, shape: [inputs.count]).exp().toArray()
        var worstUlps = 0.0
        for (x, value) in zip(inputs, result) {
            let exact = Foundation.exp(Double(x))
            if exact > Double(Float.greatestFiniteMagnitude) {
                #expect(value == .infinity, "e^\(x)")
                continue
            }
            let ulps = abs(Double(value) - exact) / Double(Float(exact).ulp)
            worstUlps = max(worstUlps, ulps)
            #expect(ulps <= 2, "e^\(x) = \(value), exact \(exact)")
        }
        #expect(worstUlps > 0, "the comparison ran")
        #expect(Tensor([.nan], shape: [1]).exp().scalarValue.isNaN)
    }

    @Test func partialVectorsAndParallelChunksCoverEveryElement() {
        for count in [1, 15, 16, 17, 33, 70_001] {
            let input = randomTensor([count], seed: UInt64(count), in: -5...5)
            let result = input.sigmoid().toArray()
            let expected = input.toArray().map { 1 / (1 + Foundation.exp(-Double($0))) }
            #expect(zip(result, expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * $1 }, "count \(count)")
        }
    }
}
