import Foundation
import Testing
@testable import Diffusion

/// Gradients through the tiny SD1/SD2/SDXL UNets against PyTorch's (tools/golden_unet_gradients.py): a rank-2
/// adapter on each of the layers a membrane adapts, per-sample gates, and gradients of Σ seed ⊙ output with
/// respect to every adapter factor, the sample, the text context and a selection of frozen weights.
@Suite struct UNetGradientTests {
    static func tensor(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
        Tensor(try file.floats(name), shape: try file.info(name).shape)
    }

    /// With checkpointing the blocks' activations are recomputed in the backward pass: the gradients must not change.
    @Test(arguments: ["sd1", "sd2", "sdxl"], [false, true])
    func gradientsMatchPyTorch(model: String, checkpointing: Bool) throws {
        let folder = UNetParityTests.folder(model)
        let configuration = try UNetConfiguration.load(from: folder.appendingPathComponent("config.json"))
        let golden = try WeightFile.open(folder.appendingPathComponent("gradients.safetensors"))
        let weightsFile = try WeightFile.open(folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))

        // Every weight as stored; the ones PyTorch differentiated become trainable leaves.
        let weightPrefix = "grad.weight."
        let trainableKeys = golden.tensorNames.filter { $0.hasPrefix(weightPrefix) }.map { String($0.dropFirst(weightPrefix.count)) }
        var weights: [String: Tensor] = [:]
        for name in weightsFile.tensorNames { weights[name] = try Self.tensor(weightsFile, name) }
        for key in trainableKeys { weights[key] = weights[key]?.requiringGradient() }
        let unet = try UNet2DConditionModel(configuration: configuration,
                                            parameters: ParameterReader(tensors: weights, description: model))

        let adapterPaths = golden.tensorNames.filter { $0.hasPrefix("adapter.") && $0.hasSuffix(".down") }
            .map { String($0.dropFirst("adapter.".count).dropLast(".down".count)) }.sorted()
        #expect(adapterPaths.count == unet.adaptableLayers.count)
        var adapters: [String: LowRankAdapter] = [:]
        var factors: [(name: String, tensor: Tensor)] = []
        for path in adapterPaths {
            let down = try Self.tensor(golden, "adapter.\(path).down").requiringGradient()
            let up = try Self.tensor(golden, "adapter.\(path).up").requiringGradient()
            adapters[path] = LowRankAdapter(down: down, up: up, gateOfRank: [0, 0])
            factors += [("adapter.\(path).down", adapters[path]!.down), ("adapter.\(path).up", adapters[path]!.up)]
        }
        var adapted = try unet.attaching(adapters)
        adapted.checkpointsActivations = checkpointing

        let sample = try Self.tensor(golden, "sample").requiringGradient()
        let context = try Self.tensor(golden, "context").requiringGradient()
        let added = configuration.textTimeEmbedding == nil ? nil
            : UNet2DConditionModel.AddedConditions(pooledText: try Self.tensor(golden, "pooled"),
                                                   timeIDs: try Self.tensor(golden, "time_ids"))
        let gates = try Self.tensor(golden, "gates").reshaped([2, 1])
        let output = adapted(sample, timesteps: try golden.floats("timesteps"), context: context, added: added, gates: gates)

        let inputs = [("sample", sample), ("context", context)] + trainableKeys.map { ("weight.\($0)", weights[$0]!) } + factors
        let gradients = output.gradients(withRespectTo: inputs.map(\.1), seed: try Self.tensor(golden, "seed"))
        var worst: (name: String, error: Float) = ("", 0)
        for ((name, _), gradient) in zip(inputs, gradients) {
            let expected = try Self.tensor(golden, "grad." + name)
            #expect(gradient.shape == expected.shape, "\(name)")
            let scale = max(1, expected.toArray().map(abs).max() ?? 0)
            let error = zip(gradient.toArray(), expected.toArray()).map { abs($0 - $1) }.max()! / scale
            if error > worst.error { worst = (name, error) }
        }
        #expect(worst.error <= 1e-4, "\(model): worst relative gradient error \(worst.error) in \(worst.name)")
    }
}
