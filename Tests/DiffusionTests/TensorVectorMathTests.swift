import CKernels
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

    /// GELU (erf form) and its derivative against Double's erf: erf by Abramowitz & Stegun 7.1.26, as PyTorch's
    /// vectorised GELU, is within 1.5e-7 plus fp32 rounding where 1 − t·r·e^(−x²) cancels near 0 (measured
    /// 4.9e-7), so x·Φ(x) is within ½|x|·6e-7 plus rounding; ±1 tails come out exact.
    @Test func geluAndItsDerivativeAreWithinTheErfBound() {
        let inputs: [Float] = stride(from: -7, through: 7, by: 0.00731).map { Float($0) } + [0, 1e-20, 40, -40]
        let x = Tensor(inputs, shape: [inputs.count]).requiringGradient()
        let values = x.gelu().toArray()
        let slopes = x.gelu().sum().gradients(withRespectTo: [x])[0].toArray()
        for (i, input) in inputs.enumerated() {
            let v = Double(input)
            let phi = 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot()))
            let expected = v * phi
            let slope = phi + v * Foundation.exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
            #expect(abs(Double(values[i]) - expected) <= 3e-7 * abs(v) + 1e-6 * abs(expected) + 1e-12, "gelu(\(input))")
            #expect(abs(Double(slopes[i]) - slope) <= 6e-7 * (1 + abs(v)) + 1e-6, "gelu′(\(input))")
        }
        #expect(values[inputs.count - 2] == 40 && values[inputs.count - 1] == 0)
    }

    @Test func partialVectorsAndParallelChunksCoverEveryElement() {
        for count in [1, 15, 16, 17, 33, 70_001] {
            let input = randomTensor([count], seed: UInt64(count), in: -5...5)
            let result = input.sigmoid().toArray()
            let expected = input.toArray().map { 1 / (1 + Foundation.exp(-Double($0))) }
            #expect(zip(result, expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * $1 }, "count \(count)")
        }
    }

    /// The C softmax kernel against Double: rows of every length around the vector width and long ones, each
    /// scaled, with and without a causal mask (row r of a block starting at query q keeps q + r + 1 entries).
    /// Tolerance: rounding scale·x to float (|scale·x| ≤ 11 here) moves e^x by up to ~1.5e-6 of itself.
    @Test func softmaxRowsMatchDoubleWithAndWithoutCausalMask() {
        for length in [1, 2, 15, 16, 17, 31, 33, 1000, 4097] {
            for causal in [-1, 0, 5] {
                let rows = 4, leading = length + 3
                var scores = randomTensor([rows * leading], seed: UInt64(length * 7 + causal + 1), in: -30...30).toArray()
                let original = scores
                scores.withUnsafeMutableBufferPointer {
                    spm_softmax_rows($0.baseAddress!, rows, length, leading, 0.37, causal)
                }
                for r in 0..<rows {
                    let valid = causal < 0 ? length : min(length, causal + r + 1)
                    let line = (0..<valid).map { 0.37 * Double(original[r * leading + $0]) }
                    let total = line.map { Foundation.exp($0 - line.max()!) }.reduce(0, +)
                    for i in 0..<length {
                        let expected = i < valid ? Foundation.exp(line[i] - line.max()!) / total : 0
                        let value = Double(scores[r * leading + i])
                        #expect(abs(value - expected) <= 4e-6 * expected + 1e-12, "length \(length) row \(r) [\(i)]")
                    }
                    for i in length..<leading { #expect(scores[r * leading + i] == original[r * leading + i]) }
                }
            }
        }
    }

    @Test func softmaxRowsKeepNaNAndZeroNegativeInfinity() {
        var row: [Float] = [1, -.infinity, 2, 3] + [Float](repeating: 0, count: 20)
        row.withUnsafeMutableBufferPointer { spm_softmax_rows($0.baseAddress!, 1, $0.count, $0.count, 1, -1) }
        #expect(row[1] == 0 && abs(row.reduce(0, +) - 1) < 1e-6)
        var poisoned: [Float] = [1, .nan, 2]
        poisoned.withUnsafeMutableBufferPointer { spm_softmax_rows($0.baseAddress!, 1, 3, 3, 1, -1) }
        #expect(poisoned.allSatisfy { $0.isNaN })
    }

    /// g ← scale · p ⊙ (g − shift) per row, against the same formula in Double.
    @Test func softmaxBackwardRowsMatchTheFormula() {
        let (rows, length) = (3, 37)
        let p = randomTensor([rows * length], seed: 91, in: 0...1).toArray()
        let g = randomTensor([rows * length], seed: 92, in: -2...2).toArray()
        let shift: [Float] = [0.5, -1, 2]
        var result = g
        result.withUnsafeMutableBufferPointer { out in
            spm_softmax_backward_rows(p, out.baseAddress!, shift, rows, length, length, 0.25)
        }
        for i in 0..<(rows * length) {
            let expected = 0.25 * Double(p[i]) * (Double(g[i]) - Double(shift[i / length]))
            #expect(abs(Double(result[i]) - expected) <= 1e-6)
        }
    }
}
