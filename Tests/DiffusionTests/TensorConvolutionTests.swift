import Testing
@testable import Diffusion

// Tolerance as for matmul: each output is a dot product of length C/groups·kh·kw (+ bias), within
// γ_k·Σ|w·x| of the exact value; we allow twice that.

/// PyTorch's conv2d written as seven nested loops in Double, with the per-element error bound.
func naiveConv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                         dilation: (Int, Int), groups: Int) -> (values: [Double], bounds: [Double], shape: [Int]) {
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let outH = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let outW = (w + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let (cg, og) = (c / groups, o / groups)
    var values: [Double] = [], bounds: [Double] = []
    for image in 0..<n {
        for out in 0..<o {
            let group = out / og
            for y in 0..<outH {
                for x in 0..<outW {
                    var total = bias.map { Double($0[out]) } ?? 0
                    var magnitude = abs(total)
                    for ci in 0..<cg {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let iy = y * stride.0 - padding.0 + i * dilation.0
                                let ix = x * stride.1 - padding.1 + j * dilation.1
                                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                                let term = Double(input[image, group * cg + ci, iy, ix]) * Double(weight[out, ci, i, j])
                                total += term
                                magnitude += abs(term)
                            }
                        }
                    }
                    values.append(total)
                    bounds.append(2 * Double(cg * kh * kw + 1) * float32Roundoff * magnitude + 1e-12)
                }
            }
        }
    }
    return (values, bounds, [n, o, outH, outW])
}

@Suite struct TensorConvolutionTests {
    struct Case: CustomStringConvertible {
        var input: [Int], outChannels: Int, kernel: (Int, Int)
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1, bias = true
        var description: String {
            "input \(input) out \(outChannels) kernel \(kernel) stride \(stride) padding \(padding) dilation \(dilation) groups \(groups)"
        }
    }

    static let cases: [Case] = [
        Case(input: [1, 3, 6, 7], outChannels: 4, kernel: (3, 3), padding: (1, 1)),
        Case(input: [2, 4, 8, 8], outChannels: 6, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        Case(input: [1, 2, 7, 9], outChannels: 3, kernel: (2, 3), stride: (2, 1), padding: (0, 2), bias: false),
        Case(input: [1, 4, 9, 9], outChannels: 4, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
        Case(input: [2, 6, 5, 5], outChannels: 4, kernel: (3, 3), padding: (1, 1), groups: 2),
        Case(input: [1, 4, 5, 6], outChannels: 4, kernel: (3, 1), stride: (1, 3), padding: (1, 0), groups: 4),
        Case(input: [2, 5, 4, 3], outChannels: 7, kernel: (1, 1)),  // pointwise: no im2col
        Case(input: [1, 6, 4, 4], outChannels: 4, kernel: (1, 1), groups: 2, bias: false),
        Case(input: [1, 3, 5, 5], outChannels: 2, kernel: (1, 1), stride: (2, 2)),  // strided 1×1 unrolls
        Case(input: [1, 2, 3, 3], outChannels: 2, kernel: (5, 5), stride: (3, 3), padding: (3, 3)),  // mostly padding
    ]

    @Test(arguments: cases)
    func matchesNaiveConvolution(_ test: Case) {
        let cg = test.input[1] / test.groups
        let input = randomTensor(test.input, seed: UInt64(test.input.reduce(1, *)))
        let weight = randomTensor([test.outChannels, cg, test.kernel.0, test.kernel.1], seed: 7)
        let bias = test.bias ? randomTensor([test.outChannels], seed: 8) : nil
        let expected = naiveConv2d(input, weight, bias: bias, stride: test.stride, padding: test.padding,
                                   dilation: test.dilation, groups: test.groups)
        let stride = SpatialPair(test.stride.0, test.stride.1), padding = SpatialPair(test.padding.0, test.padding.1)
        let dilation = SpatialPair(test.dilation.0, test.dilation.1)
        let result = Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                                   dilation: dilation, groups: test.groups)
        expectWithinBounds(result, expected.values, bounds: expected.bounds, shape: expected.shape, "\(test)")
        // Tiles of one or two output rows give the same numbers as one whole-image tile.
        for budget in [1, 2 * cg * test.kernel.0 * test.kernel.1 * expected.shape[3]] {
            let tiled = Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                                      dilation: dilation, groups: test.groups, columnBudget: budget)
            expectWithinBounds(tiled, expected.values, bounds: expected.bounds, shape: expected.shape, "tiled \(test)")
        }
    }

    /// A column matrix of 72 × 1024 (> 2 × `Parallel.elementGrain`) is unrolled by two threads.
    @Test func unrollsLargeInputsInParallel() {
        let input = randomTensor([1, 8, 32, 32], seed: 23), weight = randomTensor([2, 8, 3, 3], seed: 24)
        let expected = naiveConv2d(input, weight, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
        expectWithinBounds(Tensor.conv2d(input, weight: weight, padding: 1), expected.values, bounds: expected.bounds,
                           shape: expected.shape, "parallel unrolling")
    }

    @Test func acceptsStridedViews() {
        let input = randomTensor([3, 1, 6, 5], seed: 21).permuted([1, 0, 3, 2])  // [1, 3, 5, 6], not contiguous
        let weight = randomTensor([3, 3, 4, 2], seed: 22).permuted([3, 0, 2, 1])  // [2, 3, 4, 3]
        let expected = naiveConv2d(input, weight, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
        expectWithinBounds(Tensor.conv2d(input, weight: weight, padding: 1), expected.values, bounds: expected.bounds,
                           shape: expected.shape, "strided views")
    }

    @Test func concatJoinsAlongAnyAxis() {
        let a = randomTensor([2, 3, 4], seed: 31)
        let b = randomTensor([4, 2, 2], seed: 32).permuted([1, 0, 2])  // [2, 4, 2]
        let c = randomTensor([2, 1, 4], seed: 33)
        let joined = Tensor.concat([a, c, a.narrowed(axis: 1, start: 1, length: 2)], axis: 1)
        #expect(joined.shape == [2, 6, 4])
        for index in allIndices(joined.shape) {
            let (i, j, k) = (index[0], index[1], index[2])
            let expected = j < 3 ? a[i, j, k] : j == 3 ? c[i, 0, k] : a[i, j - 3, k]
            #expect(joined[i, j, k] == expected)
        }
        let lastAxis = Tensor.concat([b, b.narrowed(axis: 2, start: 1, length: 1)], axis: -1)
        #expect(lastAxis.shape == [2, 4, 3])
        for index in allIndices(lastAxis.shape) {
            let (i, j, k) = (index[0], index[1], index[2])
            #expect(lastAxis[i, j, k] == (k < 2 ? b[i, j, k] : b[i, j, 1]))
        }
        #expect(Tensor.concat([a, a], axis: 0).toArray() == a.toArray() + a.toArray())
    }

    @Test func nearestUpsamplingRepeatsPixels() {
        let input = randomTensor([2, 3, 4, 5], seed: 41).transposed(2, 3)  // [2, 3, 5, 4]
        for scale in [1, 2, 3] {
            let output = input.upsampledNearest(scale: scale)
            #expect(output.shape == [2, 3, 5 * scale, 4 * scale])
            for index in allIndices(output.shape) {
                #expect(output.element(at: index) == input[index[0], index[1], index[2] / scale, index[3] / scale])
            }
        }
        // 4 planes of 64 × 64 outputs: large enough to be split across threads.
        let large = randomTensor([1, 4, 32, 32], seed: 42)
        let upsampled = large.upsampledNearest()
        let expected = allIndices(upsampled.shape).map { Double(large[0, $0[1], $0[2] / 2, $0[3] / 2]) }
        #expect(upsampled.toArray().map(Double.init) == expected)
    }
}
