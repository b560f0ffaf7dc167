import Foundation
import Testing
import TestSupport
@testable import Diffusion

/// Every op's recorded gradient against central finite differences of the op itself. The quantity
/// differentiated is Σ seed ⊙ f(inputs) with a random seed, so every output element's gradient path is checked.
@Suite("Gradients against finite differences")
struct GradientCheckTests {
    /// Seeded tensor with entries uniform in [low, high].
    static func random(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
        var generator = SplitMix64(seed: seed)
        let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) }
        return Tensor(values, shape: shape)
    }

    /// Checks ∂(Σ seed ⊙ f)/∂inputs: up to `samples` elements of each input, perturbed by ±`step`.
    static func check(_ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 1e-2, samples: Int = 24,
                      sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor) {
        let leaves = inputs.map { $0.requiringGradient() }
        let output = f(leaves)
        let seed = random(output.shape, seed: 99)
        let analytic = output.gradients(withRespectTo: leaves, seed: seed)
        let seedValues = seed.toArray()
        func objective(_ values: [Tensor]) -> Double {
            zip(f(values).toArray(), seedValues).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for (index, input) in inputs.enumerated() {
            #expect(analytic[index].shape == input.shape, sourceLocation: sourceLocation)
            let gradient = analytic[index].toArray()
            var elements = input.toArray()
            let positions = Set((0..<Swift.min(samples, elements.count)).map { $0 * elements.count / Swift.min(samples, elements.count) })
            for position in positions.sorted() {
                let original = elements[position]
                func perturbed(_ delta: Float) -> Double {
                    elements[position] = original + delta
                    var values = inputs
                    values[index] = Tensor(elements, shape: input.shape)
                    return objective(values)
                }
                let numeric = Float((perturbed(step) - perturbed(-step)) / Double(2 * step))
                elements[position] = original
                let error = Swift.abs(numeric - gradient[position])
                #expect(error <= tolerance * Swift.max(1, Swift.abs(numeric)),
                        "input \(index) element \(position): analytic \(gradient[position]), numeric \(numeric)",
                        sourceLocation: sourceLocation)
            }
        }
    }

    @Test func arithmeticWithBroadcasting() {
        let a = Self.random([2, 3, 4], seed: 1), b = Self.random([3, 1], seed: 2)
        let positive = Self.random([3, 1], seed: 3, in: 0.5...2)
        Self.check([a, b]) { $0[0] + $0[1] }
        Self.check([a, b]) { $0[0] - $0[1] }
        Self.check([a, b]) { $0[0] * $0[1] }
        Self.check([a, positive]) { $0[0] / $0[1] }
        Self.check([a]) { -($0[0] * 3 + 2) / 4 - 1 }
        Self.check([positive]) { 2 / $0[0] - (1 - $0[0]) }
        Self.check([a, Self.random([2, 3, 4], seed: 4)]) { Tensor.maximum($0[0], $0[1]) + Tensor.minimum($0[0], $0[1]) * 2 }
    }

    @Test func elementwiseFunctions() {
        let x = Self.random([3, 5], seed: 5, in: -2...2), positive = Self.random([3, 5], seed: 6, in: 0.5...2)
        Self.check([x]) { $0[0].exp() }
        Self.check([positive]) { $0[0].log() + $0[0].sqrt() + $0[0].rsqrt() + $0[0].pow(3) + $0[0].pow(-1) }
        Self.check([x]) { $0[0].tanh() + $0[0].sigmoid() + $0[0].sin() + $0[0].cos() }
        Self.check([x]) { $0[0].silu() }
        Self.check([x]) { $0[0].gelu() }
        Self.check([x]) { $0[0].gelu(approximation: .tanh) }
        Self.check([x]) { $0[0].abs() + $0[0].clamped(min: -1, max: 1) + $0[0].pow(2) }
    }

    @Test func reductionsAndSoftmax() {
        let x = Self.random([2, 3, 4], seed: 7, in: -2...2)
        Self.check([x]) { $0[0].sum(axes: [0, 2]) }
        Self.check([x]) { $0[0].mean(axis: 1, keepDims: true) * $0[0] }
        Self.check([x]) { $0[0].variance(axes: [1, 2]) + $0[0].variance(axis: 0, correction: 1).sum() }
        Self.check([x]) { $0[0].softmax(axis: 1) }
        Self.check([x]) { $0[0].softmax(axis: 2).sum() + $0[0].logSoftmax(axis: 2) }
        Self.check([x]) { ($0[0] * $0[0]).mean() }
    }

    @Test func views() {
        let x = Self.random([2, 3, 4], seed: 8)
        Self.check([x]) { $0[0].reshaped([4, 6]) * Self.random([4, 6], seed: 9) }
        Self.check([x]) { $0[0].permuted([2, 0, 1]).contiguous() * Self.random([4, 2, 3], seed: 10) }
        Self.check([x]) { $0[0].narrowed(axis: 2, start: 1, length: 2) * 2 }
        Self.check([x]) { $0[0].sliced(axis: 2, 0..<4, step: 2) + $0[0].transposed().narrowed(axis: 0, start: 1, length: 1) .sum() }
        Self.check([Self.random([3, 1], seed: 11)]) { $0[0].expanded(to: [2, 3, 4]) * x }
        Self.check([Self.random([3, 1, 4], seed: 12)]) { $0[0].squeezed(axis: 1).unsqueezed(axis: 0) * 3 }
        Self.check([x, Self.random([2, 1, 4], seed: 13)]) { Tensor.concat([$0[0], $0[1], $0[0]], axis: 1) }
        Self.check([Self.random([2, 3, 2, 3], seed: 14)]) { $0[0].upsampledNearest(scale: 2) }
    }

    @Test func matrixProductsAndLinear() {
        Self.check([Self.random([2, 3, 4], seed: 15), Self.random([4, 5], seed: 16)]) { Tensor.matmul($0[0], $0[1]) }
        Self.check([Self.random([3, 1, 2, 4], seed: 17), Self.random([2, 4, 3], seed: 18)]) { Tensor.matmul($0[0], $0[1]) }
        Self.check([Self.random([4], seed: 19), Self.random([4, 3], seed: 20)]) { Tensor.matmul($0[0], $0[1]) }
        Self.check([Self.random([2, 3, 4], seed: 21), Self.random([5, 4], seed: 22), Self.random([5], seed: 23)]) {
            Tensor.linear($0[0], weight: $0[1], bias: $0[2])
        }
        // Only the input needs a gradient: the weight is a constant (a frozen layer).
        let frozen = Self.random([5, 4], seed: 24)
        Self.check([Self.random([6, 4], seed: 25)]) { Tensor.linear($0[0], weight: frozen) }
    }

    @Test(arguments: [
        (kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, budget: 1 << 20),
        (kernel: 3, stride: 2, padding: 0, dilation: 1, groups: 1, budget: 1 << 20),
        (kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 2, budget: 1 << 20),
        (kernel: 3, stride: 2, padding: 1, dilation: 1, groups: 1, budget: 60),  // tiled im2col
        (kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 1, budget: 1 << 20),  // pointwise GEMM path
        (kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 2, budget: 1 << 20),
    ])
    func convolution(_ test: (kernel: Int, stride: Int, padding: Int, dilation: Int, groups: Int, budget: Int)) {
        let input = Self.random([2, 4, 5, 6], seed: 26)
        let weight = Self.random([6, 4 / test.groups, test.kernel, test.kernel], seed: 27)
        let bias = Self.random([6], seed: 28)
        Self.check([input, weight, bias]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: SpatialPair(test.stride, test.stride),
                          padding: SpatialPair(test.padding, test.padding),
                          dilation: SpatialPair(test.dilation, test.dilation), groups: test.groups,
                          columnBudget: test.budget)
        }
    }

    /// Heads of 3 dimensions take the narrow-head backward kernels, heads of 17 the GEMMs.
    @Test(arguments: [(false, 3), (true, 3), (false, 17), (true, 17)])
    func attention(causal: Bool, depth: Int) {
        let q = Self.random([2, 2, 5, depth], seed: 29), k = Self.random([2, 2, 4, depth], seed: 30)
        let v = Self.random([2, 2, 4, depth], seed: 31)
        let keys = causal ? q : k, values = causal ? Self.random([2, 2, 5, depth], seed: 32) : v
        // A budget of 2 rows of keys makes blocks of two queries, so block edges are crossed.
        let budget = 2 * keys.shape[2]
        Self.check([q, keys, values]) {
            Attention.scaledDotProduct(query: $0[0], key: $0[1], value: $0[2], causal: causal, scoreBudget: budget)
        }
        let chunked = Attention.scaledDotProduct(query: q, key: keys, value: values, causal: causal, scoreBudget: budget)
        let whole = Attention.scaledDotProduct(query: q, key: keys, value: values, causal: causal)
        #expect(zip(chunked.toArray(), whole.toArray()).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
    }

    @Test func residualAddedInsideTheGEMM() {
        // A full-shape residual and a broadcast one (a per-sample shift), with and without bias.
        let image = Self.random([2, 3, 4, 5], seed: 53), weight = Self.random([4, 3, 3, 3], seed: 54)
        let bias = Self.random([4], seed: 55)
        let skip = Self.random([2, 4, 4, 5], seed: 56), shift = Self.random([2, 4, 1, 1], seed: 57)
        Self.check([image, weight, bias, skip]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1, adding: $0[3])
        }
        Self.check([image, weight, shift]) { Tensor.conv2d($0[0], weight: $0[1], padding: 1, adding: $0[2]) }
        let tokens = Self.random([2, 3, 4], seed: 58), linearWeight = Self.random([5, 4], seed: 59)
        Self.check([tokens, linearWeight, Self.random([5], seed: 60), Self.random([2, 3, 5], seed: 61)]) {
            Tensor.linear($0[0], weight: $0[1], bias: $0[2], adding: $0[3])
        }
        // A transposed (strided) residual without bias.
        Self.check([tokens, Self.random([3, 2, 5], seed: 62)]) {
            Tensor.linear($0[0], weight: linearWeight, adding: $0[1].transposed(0, 1))
        }
        // Values: the same as adding afterwards.
        let fused = Tensor.conv2d(image, weight: weight, bias: bias, padding: 1, adding: shift)
        let separate = Tensor.conv2d(image, weight: weight, bias: bias, padding: 1) + shift
        #expect(zip(fused.toArray(), separate.toArray()).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
    }

    @Test(arguments: [false, true])
    func groupNorm(followedBySiLU: Bool) {
        // 2 samples, 6 channels in 3 groups, 3×2 positions; weight and bias trained too.
        let x = Self.random([2, 6, 3, 2], seed: 40, in: -2...2)
        Self.check([x, Self.random([6], seed: 41, in: 0.5...1.5), Self.random([6], seed: 42)]) {
            Tensor.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2], epsilon: 1e-5, followedBySiLU: followedBySiLU)
        }
        // Only the input needs a gradient (a frozen norm in adapter training); a rank-3 input.
        let weight = Self.random([4], seed: 43, in: 0.5...1.5), bias = Self.random([4], seed: 44)
        Self.check([Self.random([3, 4, 5], seed: 45)]) {
            Tensor.groupNorm($0[0], groups: 2, weight: weight, bias: bias, epsilon: 1e-6, followedBySiLU: followedBySiLU)
        }
    }

    @Test func layerNorm() {
        Self.check([Self.random([2, 3, 7], seed: 46, in: -2...2), Self.random([7], seed: 47, in: 0.5...1.5),
                    Self.random([7], seed: 48)]) {
            Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2], epsilon: 1e-5)
        }
        let weight = Self.random([5], seed: 49, in: 0.5...1.5), bias = Self.random([5], seed: 50)
        Self.check([Self.random([4, 5], seed: 51)]) { Tensor.layerNorm($0[0], weight: weight, bias: bias, epsilon: 1e-5) }
    }

    @Test func geglu() {
        Self.check([Self.random([2, 3, 8], seed: 52, in: -3...3)]) { $0[0].geglu() }
    }

    @Test func embeddingRowsAddUp() throws {
        let table = Self.random([5, 3], seed: 33).requiringGradient()
        let embedding = Embedding(weight: table)
        let rows = embedding([1, 3, 1], shape: [3])
        let gradient = try #require(rows.gradients(withRespectTo: [table], seed: Tensor.ones([3, 3])).first)
        #expect(gradient.toArray() == [0, 0, 0, 2, 2, 2, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    }

    @Test func accumulationLeavesSharedGradientsAlone() {
        // h and x each feed several ops, so their gradients are accumulated; the seed and the gradient found for
        // the intermediate h are shared with other tensors and must not be written in place.
        let x = Self.random([4], seed: 70).requiringGradient()
        let h = x * 2
        let y = h + h + x + (h * h).sum()
        let seed = Tensor([1, 2, 3, 4], shape: [4])
        let gradients = y.gradients(withRespectTo: [x, h], seed: seed)
        let sumOfSeed: Float = 10
        let expectedH = zip([2, 4, 6, 8] as [Float], h.toArray()).map { $0 + 2 * $1 * sumOfSeed }
        #expect(zip(gradients[1].toArray(), expectedH).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
        let expectedX = zip([1, 2, 3, 4] as [Float], expectedH).map { $0 + 2 * $1 }
        #expect(zip(gradients[0].toArray(), expectedX).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
        #expect(seed.toArray() == [1, 2, 3, 4])
    }

    @Test func detachedAndUnrelatedInputs() {
        let x = Self.random([3], seed: 34).requiringGradient(), y = Self.random([3], seed: 35).requiringGradient()
        let loss = (x * x.detached()).sum()
        let gradients = loss.gradients(withRespectTo: [x, y])
        #expect(gradients[0].toArray() == x.toArray())  // d(x·c)/dx = c: the detached copy is a constant
        #expect(gradients[1].toArray() == [0, 0, 0])
        #expect(!(x.detached() + 1).requiresGradient)
    }
}
