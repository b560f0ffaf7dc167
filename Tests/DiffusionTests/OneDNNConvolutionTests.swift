import Testing
@testable import Diffusion

// oneDNN sums each output's C·kh·kw products (+ bias) in its own order and blocking, so it will not match the
// im2col path bit for bit. The error bound of a sum, γ_k·Σ|w·x|, holds for every summation order, so oneDNN is
// held to the same per-element bound against the naive Double convolution as im2col is, and to the sum of both
// bounds against im2col itself.

@Suite struct OneDNNConvolutionTests {
    struct Case: CustomStringConvertible {
        var input: [Int], outChannels: Int, kernel: (Int, Int)
        var stride = (1, 1), padding = (0, 0), bias = true
        var description: String { "input \(input) out \(outChannels) kernel \(kernel) stride \(stride) padding \(padding)" }
    }

    static let cases: [Case] = [
        Case(input: [1, 3, 6, 7], outChannels: 4, kernel: (3, 3), padding: (1, 1)),
        Case(input: [2, 4, 8, 8], outChannels: 6, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Case(input: [2, 32, 10, 10], outChannels: 48, kernel: (3, 3), padding: (1, 1)),  // blocked kernels, batch 2
        Case(input: [2, 32, 9, 9], outChannels: 32, kernel: (3, 3), stride: (2, 2), bias: false),  // downsampler shape
        Case(input: [2, 16, 5, 7], outChannels: 40, kernel: (1, 1)),  // SD's 1×1 projections and shortcuts
        Case(input: [1, 3, 5, 5], outChannels: 2, kernel: (1, 1), stride: (2, 2)),
        Case(input: [1, 2, 7, 9], outChannels: 3, kernel: (2, 3), stride: (2, 1), padding: (0, 2), bias: false),
    ]

    @Test(arguments: cases)
    func matchesNaiveAndIm2colConvolution(_ test: Case) throws {
        let input = randomTensor(test.input, seed: UInt64(test.input.reduce(1, *)))
        let weight = randomTensor([test.outChannels, test.input[1], test.kernel.0, test.kernel.1], seed: 7)
        let bias = test.bias ? randomTensor([test.outChannels], seed: 8) : nil
        let stride = SpatialPair(test.stride.0, test.stride.1), padding = SpatialPair(test.padding.0, test.padding.1)
        let result = try #require(Tensor.oneDNNConv2d(input, weight: weight, bias: bias, stride: stride,
                                                      padding: padding, weightCache: OneDNNWeightCache()))
        let expected = naiveConv2d(input, weight, bias: bias, stride: test.stride, padding: test.padding,
                                   dilation: (1, 1), groups: 1)
        expectWithinBounds(result, expected.values, bounds: expected.bounds, shape: expected.shape, "\(test)")
        let reference = Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
        expectWithinBounds(result, reference.toArray().map(Double.init), bounds: expected.bounds.map { 2 * $0 },
                           shape: expected.shape, "against im2col \(test)")
    }

    /// oneDNN's backward-data convolution (the input's gradient, which the oneDNN backend and bf16 run there) against
    /// the im2col path's transposed convolution: within the sum of both summation bounds, γ·Σ|g·w| per element
    /// (Σ|g·w| is itself that transposed convolution over absolute values).
    @Test(arguments: cases)
    func inputGradientMatchesIm2col(_ test: Case) throws {
        let input = randomTensor(test.input, seed: UInt64(test.input.reduce(1, *))).requiringGradient()
        let weight = randomTensor([test.outChannels, test.input[1], test.kernel.0, test.kernel.1], seed: 9)
        let stride = SpatialPair(test.stride.0, test.stride.1), padding = SpatialPair(test.padding.0, test.padding.1)
        let output = Tensor.conv2d(input, weight: weight, stride: stride, padding: padding)
        let seed = randomTensor(output.shape, seed: 10)
        let reference = output.gradients(withRespectTo: [input], seed: seed)[0]
        let result = try #require(Tensor.oneDNNConv2dInputGradient(seed, weight: weight, inputShape: test.input,
                                                                   stride: stride, padding: padding, precision: .fp32,
                                                                   weightCache: OneDNNWeightCache()))
        let absolute = { (t: Tensor) in Tensor(t.toArray().map(abs), shape: t.shape) }
        let absoluteInput = absolute(input.detached()).requiringGradient()
        let magnitudes = Tensor.conv2d(absoluteInput, weight: absolute(weight), stride: stride, padding: padding)
        let terms = Double(test.outChannels * test.kernel.0 * test.kernel.1 + 1)
        let bounds = magnitudes.gradients(withRespectTo: [absoluteInput], seed: absolute(seed))[0].toArray()
            .map { 2 * terms * 0x1p-24 * Double($0) + 1e-7 }
        expectWithinBounds(result, reference.toArray().map(Double.init), bounds: bounds, shape: test.input, "\(test)")
    }

    /// The backend-choosing entry point runs both libraries to the same numbers, and the weight cache follows
    /// the weights: a cache that reordered one weight tensor reorders a replacement instead of reusing the copy.
    @Test func weightCacheFollowsReplacedWeights() throws {
        let input = randomTensor([2, 16, 8, 8], seed: 51)
        let cache = OneDNNWeightCache()
        for seed in [52, 53, 52] as [UInt64] {
            let weight = randomTensor([32, 16, 3, 3], seed: seed), bias = randomTensor([32], seed: seed + 100)
            let expected = naiveConv2d(input, weight, bias: bias, stride: (1, 1), padding: (1, 1), dilation: (1, 1),
                                       groups: 1)
            for backend in ComputeBackend.allCases {
                for _ in 0..<2 {  // the second call reuses the reordered copy
                    let result = Tensor.conv2d(input, weight: weight, bias: bias, stride: 1, padding: 1,
                                               backend: backend, oneDNNWeights: cache)
                    expectWithinBounds(result, expected.values, bounds: expected.bounds, shape: expected.shape,
                                       "\(backend) weights \(seed)")
                }
            }
        }
    }

    @Test func acceptsStridedViews() throws {
        let input = randomTensor([3, 1, 6, 5], seed: 21).permuted([1, 0, 3, 2])  // [1, 3, 5, 6], not contiguous
        let weight = randomTensor([3, 3, 4, 2], seed: 22).permuted([3, 0, 2, 1])  // [2, 3, 4, 3]
        let expected = naiveConv2d(input, weight, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
        let result = try #require(Tensor.oneDNNConv2d(input, weight: weight, bias: nil, stride: 1, padding: 1,
                                                      weightCache: OneDNNWeightCache()))
        expectWithinBounds(result, expected.values, bounds: expected.bounds, shape: expected.shape, "strided views")
    }

    @Test func backendIsNamedBySPMCompute() {
        #expect(ComputeEnvironment.backend(named: "openblas") == .openblas)
        #expect(ComputeEnvironment.backend(named: "oneDNN") == .onednn)
        #expect(ComputeEnvironment.backend(named: nil) == ComputeEnvironment.defaultBackend)
        #expect(ComputeEnvironment.backend(named: "cuda") == ComputeEnvironment.defaultBackend)
    }
}
