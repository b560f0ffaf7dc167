import Foundation
import Testing
@testable import Diffusion

/// Blocked attention against the formula in Double for head sizes from the tiny models' (4) to SD's (40), on the
/// layouts the models pass: heads split from [batch, tokens, heads·dimension] as views.
@Suite struct AttentionTests {
    @Test(arguments: [(4, false), (8, true), (16, false), (17, false), (17, true), (40, false)])
    func blockedAttentionMatchesTheFormula(depth: Int, causal: Bool) {
        let (batch, heads, queries) = (2, 3, 21)
        let keys = causal ? queries : 37  // 37 keys: two full vectors of 16 and a tail
        let q = Attention.splitHeads(randomTensor([batch, queries, heads * depth], seed: 1, in: -2...2), heads: heads)
        let k = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 2, in: -2...2), heads: heads)
        let v = Attention.splitHeads(randomTensor([batch, keys, heads * depth], seed: 3, in: -2...2), heads: heads)
        let output = Attention.scaledDotProduct(query: q, key: k, value: v, causal: causal)
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
        #expect(worst < 2e-6, "depth \(depth), causal \(causal): worst \(worst)")
    }
}
