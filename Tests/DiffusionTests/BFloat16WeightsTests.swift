import Foundation
import TestSupport
import Testing
@testable import Diffusion

// Layers loaded with bf16 weights (`ParameterReader.layerWeightPrecision = .bf16`, issue 8's "weights loaded
// straight into the compute dtype"): the layer keeps only the bf16 values and always runs at bf16. Its results must
// be exactly those of the same layer with fp32 weights run at bf16 — oneDNN rounds those weights the same way —
// forward and input gradient, and its `weight` must read back the weights rounded to bf16.
@Suite struct BFloat16WeightsTests {
    /// The parameters of one layer, from `tensors`, keeping layer weights at `precision`.
    static func parameters(_ tensors: [String: Tensor], _ precision: ComputePrecision) -> ScopedParameters {
        let reader = ParameterReader(tensors: tensors, description: "test layer")
        reader.layerWeightPrecision = precision
        return reader.scoped("")
    }

    @Test func linearWithBFloat16WeightsMatchesTheFloatLayerAtBFloat16() throws {
        let (inFeatures, outFeatures) = (48, 40)
        let tensors = ["weight": randomTensor([outFeatures, inFeatures], seed: 61), "bias": randomTensor([outFeatures], seed: 62)]
        let held = try Linear(Self.parameters(tensors, .bf16), inFeatures: inFeatures, outFeatures: outFeatures)
        let float = try Linear(Self.parameters(tensors, .fp32), inFeatures: inFeatures, outFeatures: outFeatures)
        #expect(held.oneDNNWeights.holdsWeights && !float.oneDNNWeights.holdsWeights)
        #expect(held.weight.toArray() == bfloat16Rounded(tensors["weight"]!).toArray())
        #expect((held.inFeatures, held.outFeatures) == (inFeatures, outFeatures))

        let input = randomTensor([3, 5, inFeatures], seed: 63).requiringGradient()
        let seed = randomTensor([3, 5, outFeatures], seed: 64)
        let expected = Tensor.linear(input, weight: float.weight, bias: float.bias, precision: .bf16,
                                     oneDNNWeights: float.oneDNNWeights)
        let output = held(input)
        #expect(output.toArray() == expected.toArray())
        #expect(output.gradients(withRespectTo: [input], seed: seed)[0].toArray()
                == expected.gradients(withRespectTo: [input], seed: seed)[0].toArray())
        // And it is bf16, not fp32 with rounded weights: fp32's result differs measurably.
        let fp32 = Tensor.linear(input, weight: float.weight, bias: float.bias)
        let difference = zip(fp32.toArray(), output.toArray()).map { abs($0 - $1) }.max() ?? 0
        #expect(difference > 1e-3, "held layer's result equals fp32's (largest difference \(difference))")
    }

    @Test(arguments: [(kernel: 3, padding: 1, stride: 1), (kernel: 3, padding: 1, stride: 2), (kernel: 1, padding: 0, stride: 1)])
    func convolutionWithBFloat16WeightsMatchesTheFloatLayerAtBFloat16(kernel: Int, padding: Int, stride: Int) throws {
        let (inChannels, outChannels) = (24, 32)
        let tensors = ["weight": randomTensor([outChannels, inChannels, kernel, kernel], seed: 71),
                       "bias": randomTensor([outChannels], seed: 72)]
        let held = try Conv2d(Self.parameters(tensors, .bf16), inChannels: inChannels, outChannels: outChannels,
                              kernel: kernel, stride: stride, padding: padding)
        let float = try Conv2d(Self.parameters(tensors, .fp32), inChannels: inChannels, outChannels: outChannels,
                               kernel: kernel, stride: stride, padding: padding)
        #expect(held.oneDNNWeights.holdsWeights)
        #expect(held.weight.toArray() == bfloat16Rounded(tensors["weight"]!).toArray())
        #expect((held.inChannels, held.outChannels) == (inChannels, outChannels))

        let input = randomTensor([2, inChannels, 9, 9], seed: 73).requiringGradient()
        // Asked for fp32, the held layer runs at bf16 all the same.
        let output = held(input, backend: .openblas, precision: .fp32)
        let expected = float(input, backend: .openblas, precision: .bf16)
        #expect(output.toArray() == expected.toArray())
        let seed = randomTensor(output.shape, seed: 74)
        #expect(output.gradients(withRespectTo: [input], seed: seed)[0].toArray()
                == expected.gradients(withRespectTo: [input], seed: seed)[0].toArray())
    }

    /// Trained weights need fp32 values and gradients, so they are never held in bf16.
    @Test func weightsThatNeedGradientsStayFloat() throws {
        let weight = randomTensor([8, 6], seed: 81).requiringGradient()
        let layer = try Linear(Self.parameters(["weight": weight], .bf16), inFeatures: 6, outFeatures: 8, bias: false)
        #expect(!layer.oneDNNWeights.holdsWeights)
        #expect(layer.weight.toArray() == weight.toArray())
    }

    /// Setting the weight of a held layer (folding a membrane in) gives it fp32 weights again, read as set.
    @Test func settingTheWeightGivesTheLayerFloatWeights() throws {
        var layer = try Linear(Self.parameters(["weight": randomTensor([8, 6], seed: 82)], .bf16),
                               inFeatures: 6, outFeatures: 8, bias: false)
        let replacement = randomTensor([8, 6], seed: 83)
        layer.weight = layer.weight + replacement
        #expect(!layer.oneDNNWeights.holdsWeights)
        let input = randomTensor([2, 6], seed: 84)
        #expect(layer(input).toArray() == Tensor.linear(input, weight: layer.weight).toArray())
    }

    /// Whole checkpoints load held, from a diffusers folder and from a single file: every adaptable layer of the
    /// UNet (linear layers and SD1's 1×1 projections) holds bf16 weights whose widened values are the fp32
    /// load's rounded.
    @Test(arguments: ["sd1", "sd1-single-file.safetensors"])
    func checkpointsLoadWithBFloat16LayerWeights(_ name: String) throws {
        let (url, configs) = (PipelineParityTests.folder(name), name == "sd1" ? nil : PipelineParityTests.folder("sd1"))
        var held = try PipelineModels.load(from: url, configFolder: configs, layerWeights: .bf16)
        var float = try PipelineModels.load(from: url, configFolder: configs)
        var floatWeights: [String: Tensor] = [:]
        float.unet.forEachAdaptableLayer { path, layer in floatWeights[path] = Self.weight(of: layer) }
        var checked = 0
        held.unet.forEachAdaptableLayer { path, layer in
            let holds: Bool
            switch layer {
            case .linear(let linear): holds = linear.oneDNNWeights.holdsWeights
            case .convolution(let conv): holds = conv.oneDNNWeights.holdsWeights
            }
            #expect(holds, "\(path)")
            #expect(Self.weight(of: layer).toArray() == floatWeights[path].map(bfloat16Rounded)?.toArray(), "\(path)")
            checked += 1
        }
        #expect(checked == floatWeights.count && checked > 0)
    }

    static func weight(of layer: AdaptableLayer) -> Tensor {
        switch layer {
        case .linear(let linear): return linear.weight
        case .convolution(let conv): return conv.weight
        }
    }
}
