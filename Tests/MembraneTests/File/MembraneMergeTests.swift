import Foundation
import Testing
@testable import Membrane
import TestSupport

@Suite struct MembraneMergeTests {
    private func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-5, _ label: String) {
        let scale = max(expected.map(abs).max() ?? 0, 1e-30)
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(actual.count == expected.count && worst <= tolerance * scale, "\(label): max abs error \(worst) (scale \(scale))")
    }

    @Test func mergedDeltaIsTheWeightedSumPerLayer() throws {
        let layout = try MembraneFixtures.tinyLayout
        let a = MembraneFixtures.random(layout, family: .testbed, rank: 1, alpha: 1, seed: 10, concept: "Van Gogh")
        let b = MembraneFixtures.random(layout, family: .testbed, rank: 2, alpha: 0.5, seed: 11, concept: "Picasso")
        var c = MembraneFixtures.random(layout, family: .testbed, rank: 3, alpha: 4, seed: 12, concept: "Monet")
        c.layers.removeValue(forKey: "mid_block.attentions.0.proj_in")
        let weights: [Float] = [1, 0.5, -0.75]
        let merged = try MembraneMerge.concatenate([(a, weights[0]), (b, weights[1]), (c, weights[2])], title: "artists")
        #expect(merged.rank == 6)
        #expect(merged.layers.count == 48)
        #expect(merged.layers.values.allSatisfy { $0.alpha == 6 && $0.rank == 6 })
        #expect(merged.concepts == [MembraneConcept(name: "Van Gogh", ranks: 0..<1), MembraneConcept(name: "Picasso", ranks: 1..<3),
                                    MembraneConcept(name: "Monet", ranks: 3..<6)])
        #expect(merged.mergedFrom == ["Van Gogh", "Picasso", "Monet"])
        for module in layout.modules {
            var expected = [Double](repeating: 0, count: module.outFeatures * module.inFeatures)
            for (input, weight) in zip([a, b, c], weights) {
                guard let layer = input.layers[module.path] else { continue }
                for (i, value) in MembraneFixtures.delta(layer).enumerated() { expected[i] += Double(weight) * value }
            }
            expectClose(MembraneFixtures.delta(merged.layers[module.path]!), expected, module.path)
        }

        // The slices gate each concept: zeroing Picasso's ranks leaves the other two inputs' sum.
        var gated = merged.layers["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"]!
        for row in 0..<gated.outFeatures { for k in 1..<3 { gated.up[row * 6 + k] = 0 } }
        var withoutPicasso = [Double](repeating: 0, count: gated.outFeatures * gated.inFeatures)
        for (input, weight) in [(a, weights[0]), (c, weights[2])] {
            for (i, value) in MembraneFixtures.delta(input.layers["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"]!).enumerated() {
                withoutPicasso[i] += Double(weight) * value
            }
        }
        expectClose(MembraneFixtures.delta(gated), withoutPicasso, "gated")
    }

    @Test func mergedFileRoundTripsWithItsSlices() throws {
        let layout = try MembraneFixtures.tinyLayout
        let a = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 20, concept: "a")
        let b = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 21, concept: "b")
        let merged = try MembraneMerge.concatenate([(a, 1), (b, 2)], title: "ab")
        let url = try MembraneFixtures.temporaryDirectory("merged").appendingPathComponent("ab.safetensors")
        try merged.write(to: url, layout: layout)
        let read = try MembraneFile.read(url, layout: layout)
        #expect(read.concepts == merged.concepts)
        #expect(read.layers == merged.layers)
        #expect(read.mergedFrom == ["a", "b"])
    }

    @Test func mixedFamiliesAreRefused() throws {
        let layout = try MembraneFixtures.tinyLayout
        let a = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 30, concept: "a")
        let b = MembraneFixtures.random(layout, family: .sd2, rank: 1, alpha: 1, seed: 31, concept: "b")
        #expect(throws: MembraneFileError.mixedFamilies(first: "a", firstFamily: .sd1, other: "b", otherFamily: .sd2)) {
            try MembraneMerge.concatenate([(a, 1), (b, 1)], title: "ab")
        }
    }

    /// The size `merge` is benchmarked at (benchmarks/merge.sh): every input keeps its own rank slice.
    @Test func hundredSD15MembranesEachKeepTheirSlice() throws {
        let layout = try #require(try MembraneLayout.bundled(for: .sd1))
        let one = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 40, concept: "c")
        let weights = (0..<100).map { Float($0 % 7) / 7 + 0.1 }
        let inputs = weights.enumerated().map { i, weight -> (file: MembraneFile, weight: Float) in
            var file = one
            file.concepts = [MembraneConcept(name: "concept \(i)", ranks: 0..<1)]
            return (file, weight)
        }
        let merged = try MembraneMerge.concatenate(inputs, title: "hundred")
        #expect(merged.rank == 100)
        #expect(merged.layers.count == one.layers.count)
        #expect(merged.concepts.last == MembraneConcept(name: "concept 99", ranks: 99..<100))
        for (path, layer) in one.layers {
            let result = try #require(merged.layers[path])
            for (i, weight) in weights.enumerated() {
                let root = weight.squareRoot()
                #expect(Array(result.down[i * layer.inFeatures..<(i + 1) * layer.inFeatures]) == layer.down.map { root * $0 },
                        "\(path): down row \(i)")
                #expect((0..<layer.outFeatures).map { result.up[$0 * 100 + i] } == layer.up.map { root * layer.scale * $0 },
                        "\(path): up column \(i)")
            }
        }
    }

    @Test func svdAtFullRankReproducesAndTruncationLosesTheDroppedValues() throws {
        // ΔW = Σ σ_j u_j v_jᵀ with known σ: orthonormal u (out) and v (in) from Gram–Schmidt of seeded vectors.
        let (out, inFeatures, rank) = (24, 16, 5)
        var generator = SplitMix64(seed: 50)
        func orthonormal(_ n: Int, _ count: Int) -> [[Double]] {
            var basis: [[Double]] = []
            while basis.count < count {
                var v = generator.floats(n).map(Double.init)
                for b in basis { let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, b).map { $0 - dot * $1 } }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                basis.append(v.map { $0 / norm })
            }
            return basis
        }
        let u = orthonormal(out, rank), v = orthonormal(inFeatures, rank)
        let sigma: [Double] = [5, 3, 2, 0.5, 0.1]
        var up = [Float](repeating: 0, count: out * rank), down = [Float](repeating: 0, count: rank * inFeatures)
        for j in 0..<rank {
            for o in 0..<out { up[o * rank + j] = Float(u[j][o] * sigma[j]) }
            for i in 0..<inFeatures { down[j * inFeatures + i] = Float(v[j][i]) }
        }
        let layer = MembraneLayer(rank: rank, inFeatures: inFeatures, outFeatures: out, down: down, up: up, alpha: 2.5)
        let path = "down_blocks.0.attentions.0.proj_in"
        let file = MembraneFile(family: .sd1, layers: [path: layer], concepts: [], title: "t")
        let full = MembraneFixtures.delta(layer)
        let norm = full.reduce(0) { $0 + $1 * $1 }.squareRoot()

        let (same, sameErrors) = try MembraneMerge.compress(file, toRank: 5)
        expectClose(MembraneFixtures.delta(same.layers[path]!), full, "full rank")
        #expect(sameErrors.first!.relativeError < 1e-12)

        for k in [1, 2, 4] {
            let (compressed, errors) = try MembraneMerge.compress(file, toRank: k)
            let approx = MembraneFixtures.delta(compressed.layers[path]!)
            #expect(compressed.layers[path]!.rank == k)
            // α/r = 0.5 scales every σ; the ratio is scale-free. (The factors are rounded to Float.)
            let dropped = sigma.dropFirst(k).reduce(0) { $0 + $1 * $1 }.squareRoot() / sigma.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let actual = zip(full, approx).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / norm
            #expect(abs(errors.first!.relativeError - dropped) < 1e-6, "k=\(k) reported")
            #expect(abs(actual - dropped) < 1e-5, "k=\(k) actual \(actual) vs \(dropped)")
        }
    }

    @Test func svdOfAMergeWithRepeatedConceptsFindsTheTrueRank() throws {
        let layout = try MembraneFixtures.tinyLayout
        let a = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 60, concept: "a")
        // The same membrane twice: the merged rank is 2 but every ΔW has rank 1, so rank 1 is lossless.
        let merged = try MembraneMerge.concatenate([(a, 1), (a, 0.5)], title: "aa")
        let (compressed, errors) = try MembraneMerge.compress(merged, toRank: 1)
        #expect(errors.allSatisfy { $0.relativeError < 1e-5 })
        for (path, layer) in a.layers {
            expectClose(MembraneFixtures.delta(compressed.layers[path]!), MembraneFixtures.delta(layer).map { $0 * 1.5 }, tolerance: 1e-4, path)
        }
    }
}
