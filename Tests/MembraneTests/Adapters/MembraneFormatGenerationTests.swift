import Diffusion
import Foundation
import Testing
@testable import Membrane

/// Files in the original SPM research code's format give the generation diffusers gives with `load_lora_weights`
/// (tools/golden_membrane_formats.py), on the tiny SD1 and SDXL pipelines, at full strength and at a transport-like
/// gate; and the same file rewritten in our format (kohya names, SGM names for SDXL) gives the same images.
@Suite struct MembraneFormatGenerationTests {
    static let pipelines = MembraneFixtures.repository.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines")

    @Test(arguments: ["sd1", "sdxl"])
    func researchFilesGenerateAsInDiffusers(model: String) throws {
        var models = try PipelineModels.load(from: Self.pipelines.appendingPathComponent(model))
        let base = models.unet
        let layout = MembraneLayout(unet: base.configuration)
        let research = try MembraneFile.read(Self.pipelines.appendingPathComponent("\(model)-research-membrane.safetensors"), layout: layout)
        #expect(research.layers.count == layout.modules.count)
        #expect(research.family == (model == "sdxl" ? .sdxl : .sd1))
        #expect(research.concepts.map(\.name) == ["Van Gogh", "Picasso"])
        let golden = try WeightFile.open(Self.pipelines.appendingPathComponent("membrane-format-images.safetensors"))

        func maxError(_ membrane: MembraneFile, strength: Float) throws -> Float {
            models.unet = try base.attaching(MembraneAdapters.adapters(for: [membrane]))
            var request = GenerationRequest(prompt: "a cat painting", negativePrompt: model == "sd1" ? "a dog" : nil, steps: 10,
                                            guidance: 5, width: 32, height: 32, seed: 42, scheduler: .euler)
            request.adapterGates = MembraneAdapters.gates(perMembrane: [strength], slots: MembraneAdapters.gateSlots(for: [membrane]))
            let images = models.decodeToUnitImages(try models.generate(request).latents).permuted([0, 2, 3, 1]).contiguous()
            let expected = try golden.floats("\(model)-strength-\(strength == 1 ? "1.0" : "0.6")")
            return zip(images.toArray(), expected).map { abs($0 - $1) }.max() ?? .infinity
        }
        for strength: Float in [1, 0.6] {
            let error = try maxError(research, strength: strength)
            #expect(error <= 2e-3, "\(model) research file at \(strength): max abs error \(error)")
        }
        let folder = try MembraneFixtures.temporaryDirectory("format-\(model)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let ours = folder.appendingPathComponent("ours.safetensors")
        try research.write(to: ours, layout: layout)
        let error = try maxError(try MembraneFile.read(ours, layout: layout), strength: 1)
        #expect(error <= 2e-3, "\(model) rewritten in our format: max abs error \(error)")
    }
}
