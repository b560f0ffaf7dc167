import Diffusion
import Foundation
import Testing
@testable import Membrane

/// Membranes in generation against diffusers' `load_lora_weights` + `set_adapters` on the tiny SD1 pipeline
/// (tools/golden_membrane_generation.py), and the gate algebra of METHOD.md §1.
@Suite struct MembraneGenerationTests {
    static let pipelines = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../DiffusionTests/Golden/pipelines").standardizedFileURL

    static func load() throws -> (PipelineModels, MembraneFile) {
        let models = try PipelineModels.load(from: pipelines.appendingPathComponent("sd1"))
        let membrane = try MembraneFile.read(pipelines.appendingPathComponent("sd1-membrane.safetensors"),
                                             layout: MembraneLayout(unet: models.unet.configuration))
        return (models, membrane)
    }

    static let request = GenerationRequest(prompt: "a cat painting", negativePrompt: "a dog", steps: 10, guidance: 5,
                                           width: 32, height: 32, seed: 42, scheduler: .euler)

    @Test(arguments: [Float(1), 0.5])
    func generationsMatchDiffusersWithTheLoRALoaded(strength: Float) throws {
        var (models, membrane) = try Self.load()
        #expect(membrane.layers.count == 192)
        models.unet = try models.unet.attaching(MembraneAdapters.adapters(for: [membrane]))
        var request = Self.request
        request.adapterGates = [strength]
        let images = models.decodeToUnitImages(try models.generate(request).latents).permuted([0, 2, 3, 1]).contiguous()
        let golden = try WeightFile.open(Self.pipelines.appendingPathComponent("sd1-membrane-images.safetensors"))
        let expected = try golden.floats("strength-\(strength == 1 ? "1.0" : "0.5")")
        let error = zip(images.toArray(), expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error <= 2e-3, "strength \(strength): max abs error \(error)")
    }

    @Test func gatesAreLinearExactAndPerSample() throws {
        let (models, membrane) = try Self.load()
        let base = models.unet
        let adapted = try base.attaching(MembraneAdapters.adapters(for: [membrane]))
        var generator = TorchGenerator(seed: 5)
        let sample = Tensor(generator.randn(count: 2 * 4 * 16 * 16), shape: [2, 4, 16, 16])
        let context = Tensor(generator.randn(count: 2 * 77 * 16), shape: [2, 77, 16])
        func run(_ unet: UNet2DConditionModel, _ gates: [Float]?) -> [Float] {
            unet(sample, timesteps: [500, 500], context: context, gates: gates.map { Tensor($0, shape: [2, 1]) }).toArray()
        }
        let frozen = run(base, nil)
        // Gate 0 is the frozen model, bit for bit; attaching left the frozen weights untouched.
        #expect(run(adapted, [0, 0]) == frozen)
        let full = run(adapted, [1, 1]), half = run(adapted, [0.5, 0.5])
        // Gates scale each layer's update linearly; the model is not linear, so compare the per-sample mix instead.
        let mixed = run(adapted, [0, 1])
        let perSample = frozen.count / 2
        #expect(Array(mixed[..<perSample]) == Array(frozen[..<perSample]), "sample 0 ungated")
        let difference = zip(mixed[perSample...], full[perSample...]).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-5, "sample 1 fully gated: \(difference)")
        #expect(half != full && half != frozen)
        // The same membrane folded into the weights (W + α/r·U·D) gives the fully gated output.
        let folded = try base.folding(MembraneAdapters.adapters(for: [membrane]), gates: [1])
        let foldError = zip(run(folded, nil), full).map { abs($0 - $1) }.max() ?? .infinity
        #expect(foldError <= 1e-4, "folded vs gated: \(foldError)")
    }

    @Test func aMembraneForAnotherModelIsRefusedByLayer() throws {
        let (models, _) = try Self.load()
        let wrong = LowRankAdapter(down: Tensor.zeros([1, 7]), up: Tensor.zeros([16, 1]), gateOfRank: [0])
        #expect(throws: AdapterError.misShaped(path: "down_blocks.0.attentions.0.proj_in", expected: [8, 8], found: [16, 7])) {
            try models.unet.attaching(["down_blocks.0.attentions.0.proj_in": wrong])
        }
        #expect(throws: AdapterError.noSuchLayer(path: "down_blocks.9.attentions.0.proj_in")) {
            try models.unet.attaching(["down_blocks.9.attentions.0.proj_in": wrong])
        }
    }
}
