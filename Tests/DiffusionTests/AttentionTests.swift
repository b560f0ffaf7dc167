import Foundation
import Testing
@testable import Diffusion

/// Blocked attention against the formula in Double for head sizes from the tiny models' (4) to SD's (40), on the
/// layouts the models pass: heads split from [batch, tokens, heads·dimension] as views.
@Suite struct AttentionTests {
    /// On both backends (the oneDNN one runs q kᵀ and p v as oneDNN matmuls), with blocks of 5 query rows on
    /// oneDNN so a shorter last block is covered too.
    @Test(arguments: [(4, false), (8, true), (16, false), (17, false), (17, true), (40, false)], ComputeBackend.allCases)
    func blockedAttentionMatchesTheFormula(shape: (depth: Int, causal: Bool), backend: ComputeBackend) {
        let (depth, causal) = shape
        let (batch, heads, queries) = (2, 3, 21)
        let keys = causal ? queries : 37  // 37 keys: two full vectors of 16 and a tail
        let q = Attention.splitHeads(randomTensor([batch, queries, heads * depth], seed: 1, in: -2...2), heads: heads)
        let k = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 2, in: -2...2), heads: heads)
        let v = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 3, in: -2...2), heads: heads)
        let output = backend == .openblas ? Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal)
            : Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal, scoreBudget: 5 * keys,
                                         backend: backend)
        #expect(output.shape == [batch, heads, queries, depth])
        let scale = 1 / Double(depth).squareRoot()
        var worst = 0.0
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<queries {
                    let visible = causal ? i + 1 : keys
                    let scores = (0..<visible).map { j in
                        (0..<depth).reduce(0.0) { $0 + Double(q.element(at: [b, h, i, $1]) * k.element(at: [b, h, j, $1])) } * scale
                    }
                    let largest = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - largest) }
                    let total = weights.reduce(0, +)
                    for d in 0..<depth {
                        let expected = (0..<visible).reduce(0.0) { $0 + weights[$1] / total * Double(v.element(at: [b, h, $1, d])) }
                        worst = max(worst, abs(Double(output.element(at: [b, h, i, d])) - expected))
                    }
                }
            }
        }
        #expect(worst < 2e-6, "depth \(depth), causal \(causal), \(backend): worst \(worst)")
    }

    /// At bf16, q kᵀ and P v are products of bf16-rounded operands with fp32 sums: the output must be the
    /// formula over rounded q, k, v and rounded probabilities. The reference rounds its Double probabilities,
    /// which can land one bf16 step (≤ 2⁻⁷ relative) away from where the engine's fp32 softmax lands, so each
    /// output may differ by up to 2⁻⁷·Σ p|v| — still far below what unrounded operands give (checked too).
    /// A score budget of 5 rows makes four blocks and a shorter last one.
    /// (Heads of at most 16 dimensions stay fp32: `narrowHeadsIgnoreTheBFloat16Precision`.)
    @Test(arguments: [(17, false), (17, true), (40, false)])
    func bfloat16AttentionMatchesTheFormulaOverRoundedOperands(depth: Int, causal: Bool) {
        let (batch, heads, queries) = (2, 3, 21)
        let keys = causal ? queries : 37
        let q = Attention.splitHeads(randomTensor([batch, queries, heads * depth], seed: 4, in: -2...2), heads: heads)
        let k = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 5, in: -2...2), heads: heads)
        let v = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 6, in: -2...2), heads: heads)
        let output = Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal, scoreBudget: 5 * keys,
                                                precision: .bf16)
        let exact = Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal, scoreBudget: 5 * keys)
        #expect(output.shape == [batch, heads, queries, depth])
        func rounded(_ x: Float) -> Double { Double(bfloat16Rounded(x)) }
        let scale = 1 / Double(depth).squareRoot()
        var excess = 0.0, differenceFromFP32 = 0.0
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<queries {
                    let visible = causal ? i + 1 : keys
                    let scores = (0..<visible).map { j in
                        (0..<depth).reduce(0.0) { $0 + rounded(q.element(at: [b, h, i, $1])) * rounded(k.element(at: [b, h, j, $1])) } * scale
                    }
                    let largest = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - largest) }
                    let total = weights.reduce(0, +)
                    let probabilities = weights.map { rounded(Float($0 / total)) }
                    for d in 0..<depth {
                        let values = (0..<visible).map { rounded(v.element(at: [b, h, $0, d])) }
                        let expected = zip(probabilities, values).reduce(0.0) { $0 + $1.0 * $1.1 }
                        let bound = 0x1p-7 * zip(probabilities, values).reduce(0.0) { $0 + $1.0 * abs($1.1) } + 1e-6
                        let actual = Double(output.element(at: [b, h, i, d]))
                        excess = max(excess, abs(actual - expected) - bound)
                        differenceFromFP32 = max(differenceFromFP32, abs(actual - Double(exact.element(at: [b, h, i, d]))))
                    }
                }
            }
        }
        #expect(excess <= 0, "depth \(depth), causal \(causal): beyond the bound by \(excess)")
        #expect(differenceFromFP32 > 1e-3, "depth \(depth): bf16 output equals fp32's (\(differenceFromFP32))")
    }

    /// Narrow heads (≤ 16 dimensions) run in fp32 at either precision and on either backend: the same bits.
    @Test(arguments: [(4, false), (16, true)])
    func narrowHeadsIgnoreTheBFloat16Precision(depth: Int, causal: Bool) {
        let q = Attention.splitHeads(randomTensor([2, 21, 3 * depth], seed: 11, in: -2...2), heads: 3)
        let k = Attention.splitHeads(randomTensor([2, causal ? 21 : 37, 3 * depth], seed: 12, in: -2...2), heads: 3)
        let v = Attention.splitHeads(randomTensor([2, causal ? 21 : 37, 3 * depth], seed: 13, in: -2...2), heads: 3)
        let outputs = [(ComputePrecision.fp32, ComputeBackend.openblas), (.bf16, .openblas), (.fp32, .onednn)].map {
            Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal, scoreBudget: 5 * 37,
                                       precision: $0.0, backend: $0.1).toArray().map(\.bitPattern)
        }
        #expect(outputs[1] == outputs[0] && outputs[2] == outputs[0])
    }

    /// The gradients with respect to q, k and v against the formulas in Double (P = softmax(q kᵀ·scale),
    /// dV = Pᵀ dO, dS = P ⊙ (dO vᵀ − rowsum(dO ⊙ O))·scale, dQ = dS k, dK = dSᵀ q), for narrow heads (≤ 16
    /// dimensions: the fused kernels) and wide ones (the GEMMs), 37 keys (two vectors of 16 and a tail), blocks of
    /// 5 queries, with and without the causal mask.
    @Test(arguments: [(4, false), (4, true), (8, false), (16, true), (17, false), (40, true)])
    func gradientsMatchTheFormula(depth: Int, causal: Bool) {
        let (batch, heads, queries) = (2, 3, causal ? 37 : 21)
        let keys = 37
        let q = Attention.splitHeads(randomTensor([batch, queries, heads * depth], seed: 7, in: -2...2), heads: heads)
        let k = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 8, in: -2...2), heads: heads)
        let v = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 9, in: -2...2), heads: heads)
        let upstream = randomTensor([batch, heads, queries, depth], seed: 10, in: -1...1)
        let leaves = [q, k, v].map { $0.requiringGradient() }
        let output = Attention.scaledDotProduct(query: leaves[0], key: leaves[1], value: leaves[2], causal: causal,
                                                scoreBudget: 5 * keys)
        let gradients = output.gradients(withRespectTo: leaves, seed: upstream)
        let scale = 1 / Double(depth).squareRoot()
        var worst = 0.0
        for b in 0..<batch {
            for h in 0..<heads {
                func x(_ t: Tensor, _ i: Int, _ d: Int) -> Double { Double(t.element(at: [b, h, i, d])) }
                var expectedQ = [[Double]](repeating: [Double](repeating: 0, count: depth), count: queries)
                var expectedK = [[Double]](repeating: [Double](repeating: 0, count: depth), count: keys)
                var expectedV = expectedK
                for i in 0..<queries {
                    let visible = causal ? i + 1 : keys
                    let scores = (0..<visible).map { j in (0..<depth).reduce(0.0) { $0 + x(q, i, $1) * x(k, j, $1) } * scale }
                    let largest = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - largest) }
                    let total = weights.reduce(0, +)
                    let p = weights.map { $0 / total }
                    let o = (0..<depth).map { d in (0..<visible).reduce(0.0) { $0 + p[$1] * x(v, $1, d) } }
                    let rowDot = (0..<depth).reduce(0.0) { $0 + x(upstream, i, $1) * o[$1] }
                    for j in 0..<visible {
                        let dP = (0..<depth).reduce(0.0) { $0 + x(upstream, i, $1) * x(v, j, $1) }
                        let dS = p[j] * (dP - rowDot) * scale
                        for d in 0..<depth {
                            expectedV[j][d] += p[j] * x(upstream, i, d)
                            expectedQ[i][d] += dS * x(k, j, d)
                            expectedK[j][d] += dS * x(q, i, d)
                        }
                    }
                }
                for (gradient, expected) in [(gradients[0], expectedQ), (gradients[1], expectedK), (gradients[2], expectedV)] {
                    for (row, values) in expected.enumerated() {
                        for (d, value) in values.enumerated() {
                            worst = max(worst, abs(Double(gradient.element(at: [b, h, row, d])) - value) / max(1, abs(value)))
                        }
                    }
                }
            }
        }
        #expect(worst < 1e-5, "depth \(depth), causal \(causal): worst \(worst)")
    }
}
