import TestSupport
import Testing
@testable import Diffusion

// bf16 products (`ComputePrecision.bf16`): oneDNN rounds both operands to bfloat16 and accumulates in fp32. A
// product of two bf16 values is exact in fp32 (8 + 8 significant bits), so the result must equal the exact sum
// over the *rounded* operands within the usual fp32 summation bound — which says both that the rounding is the
// one we claim (to nearest, ties to even) and that nothing else was rounded (bias, accumulator, output). Each
// test also checks the result is measurably not the fp32 one, so a silent fp32 fallback fails.

/// x rounded to the nearest bfloat16 (ties to even), computed on the bits: the independent side of the tests.
func bfloat16Rounded(_ x: Float) -> Float {
    guard x.isFinite else { return x }
    let bits = x.bitPattern
    let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
    return Float(bitPattern: rounded)
}

func bfloat16Rounded(_ tensor: Tensor) -> Tensor {
    Tensor(tensor.toArray().map(bfloat16Rounded), shape: tensor.shape)
}

@Suite struct BFloat16ProductTests {
    @Test func roundingReferenceRoundsToNearestEven() {
        #expect(bfloat16Rounded(1) == 1)
        #expect(bfloat16Rounded(Float(bitPattern: 0x3F80_8000)) == 1)                          // tie, even below
        #expect(bfloat16Rounded(Float(bitPattern: 0x3F81_8000)) == Float(bitPattern: 0x3F82_0000)) // tie, even above
        #expect(bfloat16Rounded(Float(bitPattern: 0x3F80_8001)) == Float(bitPattern: 0x3F81_0000))
        #expect(bfloat16Rounded(-Float.infinity) == -.infinity)
        #expect(bfloat16Rounded(Float.greatestFiniteMagnitude) == .infinity)  // past bf16's largest value
    }

    /// The engine's conversion (`spm_bfloat16_rows`, through the buffer the products use) against the bit-level
    /// reference, over ties both ways, the float range's ends, subnormals and NaNs, from strided rows.
    @Test func conversionRoundsLikeTheReference() {
        let specials: [Float] = [1, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                                 Float(bitPattern: 0x3F80_8001), -0.0, .infinity, -.infinity, .greatestFiniteMagnitude,
                                 -.greatestFiniteMagnitude, .leastNonzeroMagnitude, Float(bitPattern: 0x0000_8000),
                                 .nan, -.nan, Float(bitPattern: 0x7F80_0001)]
        var generator = SplitMix64(seed: 41)
        let values = specials + (0..<301).map { _ in Float.random(in: -1e6...1e6, using: &generator) }
        let (rows, length, leading) = (5, values.count / 5, values.count / 5 + 3)
        var strided = [Float](repeating: 7, count: rows * leading)
        for r in 0..<rows { for i in 0..<length { strided[r * leading + i] = values[r * length + i] } }
        let buffer = BFloat16Buffer(count: rows * length)
        strided.withUnsafeBufferPointer { buffer.convert($0.baseAddress!, rows: rows, length: length, leading: leading) }
        for index in 0..<rows * length {
            let converted = Float(bitPattern: UInt32(buffer.elements[index]) << 16)
            let expected = bfloat16Rounded(values[index])
            if expected.isNaN {
                #expect(converted.isNaN && converted.sign == values[index].sign, "element \(index): \(converted)")
            } else {
                #expect(converted.bitPattern == expected.bitPattern, "element \(index): \(values[index]) → \(converted)")
            }
        }
    }

    /// linear at bf16 against Σ bf16(x)·bf16(w) + b in Double, with or without bias and residual, over views.
    @Test(arguments: [(rows: [3, 5], inFeatures: 37, outFeatures: 29, bias: true, residual: true),
                      (rows: [1], inFeatures: 64, outFeatures: 16, bias: false, residual: false),
                      (rows: [2, 77], inFeatures: 40, outFeatures: 320, bias: true, residual: false)])
    func linearMatchesTheSumOverRoundedOperands(rows: [Int], inFeatures: Int, outFeatures: Int, bias hasBias: Bool,
                                                residual hasResidual: Bool) throws {
        let input = randomTensor([inFeatures] + rows.reversed(), seed: 11)
            .permuted(Array((0...rows.count).reversed()))  // [rows…, in], not contiguous
        let weight = randomTensor([outFeatures, inFeatures], seed: 12)
        let bias = hasBias ? randomTensor([outFeatures], seed: 13) : nil
        let residual = hasResidual ? randomTensor([outFeatures], seed: 14) : nil
        let result = Tensor.linear(input, weight: weight, bias: bias, adding: residual, precision: .bf16,
                                   oneDNNWeights: OneDNNWeightCache())
        let (x, w) = (bfloat16Rounded(input).toArray(), bfloat16Rounded(weight).toArray())
        let rowCount = rows.reduce(1, *)
        var expected: [Double] = [], bounds: [Double] = []
        for r in 0..<rowCount {
            for o in 0..<outFeatures {
                let terms = (0..<inFeatures).map { Double(x[r * inFeatures + $0]) * Double(w[o * inFeatures + $0]) }
                let added = [bias, residual].compactMap { $0.map { Double($0.toArray()[o]) } }
                expected.append((terms + added).reduce(0, +))
                let magnitude = (terms + added).map(abs).reduce(0, +)
                bounds.append(Double(inFeatures + 2) * 0x1p-24 * magnitude + 1e-7)
            }
        }
        expectWithinBounds(result, expected, bounds: bounds, shape: rows + [outFeatures], "bf16 linear")
        let fp32 = Tensor.linear(input, weight: weight, bias: bias, adding: residual)
        let difference = zip(fp32.toArray(), result.toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1e-3, "bf16 result equals fp32's (largest difference \(difference))")
    }

    /// On the oneDNN backend at fp32 the product is oneDNN's fp32 matmul on the weights as they are: within the
    /// fp32 summation bound of the exact sum.
    @Test func fp32LinearOnOneDNNMatchesTheExactSum() throws {
        let input = randomTensor([2, 9, 33], seed: 15), weight = randomTensor([17, 33], seed: 16)
        let bias = randomTensor([17], seed: 17)
        let result = Tensor.linear(input, weight: weight, bias: bias, backend: .onednn,
                                   oneDNNWeights: OneDNNWeightCache())
        let (x, w, b) = (input.toArray(), weight.toArray(), bias.toArray())
        var expected: [Double] = [], bounds: [Double] = []
        for r in 0..<18 {
            for o in 0..<17 {
                let terms = (0..<33).map { Double(x[r * 33 + $0]) * Double(w[o * 33 + $0]) } + [Double(b[o])]
                expected.append(terms.reduce(0, +))
                bounds.append(35 * 0x1p-24 * terms.map(abs).reduce(0, +) + 1e-7)
            }
        }
        expectWithinBounds(result, expected, bounds: bounds, shape: [2, 9, 17], "fp32 linear on oneDNN")
    }

    /// At bf16 the input's gradient is a bf16 product too, Σₒ bf16(g)·bf16(w), within the fp32 summation bound
    /// and measurably not fp32's; the weight's stays fp32's exactly (the same formula on unrounded operands).
    @Test func linearInputGradientIsTheSumOverRoundedOperands() throws {
        let (rows, inFeatures, outFeatures) = (6, 24, 40)
        let input = randomTensor([rows, inFeatures], seed: 21).requiringGradient()
        let weight = randomTensor([outFeatures, inFeatures], seed: 22).requiringGradient()
        let seed = randomTensor([rows, outFeatures], seed: 23)
        let bf16 = Tensor.linear(input, weight: weight, precision: .bf16, oneDNNWeights: OneDNNWeightCache())
            .gradients(withRespectTo: [input, weight], seed: seed)
        let fp32 = Tensor.linear(input, weight: weight).gradients(withRespectTo: [input, weight], seed: seed)
        #expect(bf16[1].toArray() == fp32[1].toArray())
        let (g, w) = (bfloat16Rounded(seed).toArray(), bfloat16Rounded(weight).toArray())
        var expected: [Double] = [], bounds: [Double] = []
        for r in 0..<rows {
            for i in 0..<inFeatures {
                let terms = (0..<outFeatures).map { Double(g[r * outFeatures + $0]) * Double(w[$0 * inFeatures + i]) }
                expected.append(terms.reduce(0, +))
                bounds.append(Double(outFeatures + 1) * 0x1p-24 * terms.map(abs).reduce(0, +) + 1e-7)
            }
        }
        expectWithinBounds(bf16[0], expected, bounds: bounds, shape: [rows, inFeatures], "bf16 input gradient")
        let difference = zip(fp32[0].toArray(), bf16[0].toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1e-3, "bf16 input gradient equals fp32's (largest difference \(difference))")
    }

    struct ConvolutionCase: CustomStringConvertible, Sendable {
        var input: [Int], outChannels: Int, kernel: Int, stride = 1, padding = 0
        var description: String { "input \(input) out \(outChannels) kernel \(kernel) stride \(stride)" }
    }

    /// Every convolution goes to oneDNN at bf16, 1×1 ones included (fp32 keeps those on OpenBLAS).
    @Test(arguments: [ConvolutionCase(input: [2, 32, 10, 10], outChannels: 48, kernel: 3, padding: 1),
                      ConvolutionCase(input: [1, 16, 9, 9], outChannels: 16, kernel: 3, stride: 2, padding: 1),
                      ConvolutionCase(input: [2, 16, 5, 7], outChannels: 40, kernel: 1)])
    func convolutionMatchesTheSumOverRoundedOperands(_ test: ConvolutionCase) throws {
        let input = randomTensor(test.input, seed: 31)
        let weight = randomTensor([test.outChannels, test.input[1], test.kernel, test.kernel], seed: 32)
        let bias = randomTensor([test.outChannels], seed: 33)
        let residual = randomTensor([test.outChannels, 1, 1], seed: 34)
        let stride = SpatialPair(test.stride, test.stride), padding = SpatialPair(test.padding, test.padding)
        let result = Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                                   backend: .openblas, precision: .bf16, oneDNNWeights: OneDNNWeightCache(),
                                   adding: residual)
        let expected = naiveConv2d(bfloat16Rounded(input), bfloat16Rounded(weight), bias: bias,
                                   stride: (test.stride, test.stride), padding: (test.padding, test.padding),
                                   dilation: (1, 1), groups: 1)
        let residuals = residual.toArray()
        let perChannel = expected.values.count / (test.input[0] * test.outChannels)
        let withResidual = expected.values.indices.map {
            expected.values[$0] + Double(residuals[($0 / perChannel) % test.outChannels])
        }
        expectWithinBounds(result, withResidual, bounds: expected.bounds.map { $0 + 1e-6 }, shape: expected.shape,
                           "\(test)")
        let fp32 = Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, adding: residual)
        let difference = zip(fp32.toArray(), result.toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1e-3, "\(test): bf16 result equals fp32's (largest difference \(difference))")
    }

    /// A convolution's input gradient at bf16 is oneDNN's backward-data convolution over the rounded output
    /// gradient and weights: the transposed convolution summed in Double, within the fp32 bound, and measurably not
    /// fp32's; the weight's gradient stays fp32's exactly.
    @Test(arguments: [ConvolutionCase(input: [2, 32, 10, 10], outChannels: 48, kernel: 3, padding: 1),
                      ConvolutionCase(input: [1, 16, 9, 9], outChannels: 16, kernel: 3, stride: 2, padding: 1),
                      ConvolutionCase(input: [2, 16, 5, 7], outChannels: 40, kernel: 1)])
    func convolutionInputGradientIsTheSumOverRoundedOperands(_ test: ConvolutionCase) throws {
        let input = randomTensor(test.input, seed: 35).requiringGradient()
        let weight = randomTensor([test.outChannels, test.input[1], test.kernel, test.kernel], seed: 36)
            .requiringGradient()
        let stride = SpatialPair(test.stride, test.stride), padding = SpatialPair(test.padding, test.padding)
        let output = Tensor.conv2d(input, weight: weight, bias: nil, stride: stride, padding: padding,
                                   backend: .openblas, precision: .bf16, oneDNNWeights: OneDNNWeightCache())
        let seed = randomTensor(output.shape, seed: 37)
        let bf16 = output.gradients(withRespectTo: [input, weight], seed: seed)
        let fp32 = Tensor.conv2d(input, weight: weight, stride: stride, padding: padding)
            .gradients(withRespectTo: [input, weight], seed: seed)
        #expect(bf16[1].toArray() == fp32[1].toArray(), "\(test): weight gradient")

        let (g, w) = (bfloat16Rounded(seed).toArray(), bfloat16Rounded(weight).toArray())
        let (batch, channels, height, width) = (test.input[0], test.input[1], test.input[2], test.input[3])
        let (outHeight, outWidth, k) = (output.shape[2], output.shape[3], test.kernel)
        var sums = [Double](repeating: 0, count: test.input.reduce(1, *)), magnitudes = sums
        for n in 0..<batch {
            for o in 0..<test.outChannels {
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        let gradient = Double(g[((n * test.outChannels + o) * outHeight + y) * outWidth + x])
                        for c in 0..<channels {
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let (h, v) = (y * test.stride - test.padding + ky, x * test.stride - test.padding + kx)
                                    guard (0..<height).contains(h), (0..<width).contains(v) else { continue }
                                    let term = gradient * Double(w[((o * channels + c) * k + ky) * k + kx])
                                    let index = ((n * channels + c) * height + h) * width + v
                                    sums[index] += term
                                    magnitudes[index] += abs(term)
                                }
                            }
                        }
                    }
                }
            }
        }
        let terms = Double(test.outChannels * k * k + 1)
        expectWithinBounds(bf16[0], sums, bounds: magnitudes.map { terms * 0x1p-24 * $0 + 1e-7 }, shape: test.input,
                           "\(test): input gradient")
        let difference = zip(fp32[0].toArray(), bf16[0].toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1e-3, "\(test): bf16 input gradient equals fp32's (largest difference \(difference))")
    }

    @Test func precisionIsNamedBySPMPrecision() {
        #expect(ComputeEnvironment.precision(named: "bf16") == .bf16)
        #expect(ComputeEnvironment.precision(named: "BF16") == .bf16)
        #expect(ComputeEnvironment.precision(named: "fp32") == .fp32)
        #expect(ComputeEnvironment.precision(named: nil) == .fp32)
        #expect(ComputeEnvironment.precision(named: "fp8") == .fp32)
    }
}
