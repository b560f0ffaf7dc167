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

    /// The vectorised erf (Abramowitz & Stegun 7.1.26, as PyTorch's vectorised GELU): the formula's 1.5e-7
    /// absolute error plus fp32 rounding where 1 − t·r·e^(−x²) cancels near 0 (measured 4.9e-7), odd, ±1 in the tails.
    @Test func errorFunctionIsWithinItsBound() {
        let inputs: [Float] = stride(from: -7, through: 7, by: 0.00731).map { Float($0) } + [0, 1e-20, 40, -40]
        var worst = 0.0
        for start in stride(from: 0, to: inputs.count, by: 16) {
            var lanes = FloatVector(repeating: 0)
            for lane in 0..<min(16, inputs.count - start) { lanes[lane] = inputs[start + lane] }
            let values = errorFunction(lanes)
            for lane in 0..<min(16, inputs.count - start) {
                worst = max(worst, abs(Double(values[lane]) - Foundation.erf(Double(inputs[start + lane]))))
            }
        }
        #expect(worst <= 6e-7, "worst absolute error \(worst)")
        let tails = errorFunction(FloatVector(repeating: 9))
        #expect(tails[0] == 1 && errorFunction(FloatVector(repeating: -9))[0] == -1)
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
