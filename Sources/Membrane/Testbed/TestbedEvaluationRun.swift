import Diffusion
import Foundation

/// Generates a prompt suite with and without membranes (same seeds): the pairs `TestbedErasureReport` scores, what
/// `spm-workbench evaluate --task testbed` runs.
public struct TestbedEvaluationRun: Sendable {
    public var steps: Int
    public var guidance: Float
    /// How the membranes are gated per prompt; `off` keeps every membrane at its weight (a plain LoRA).
    public var transport: TransportConfig

    public init(steps: Int = 20, guidance: Float = 7.5, transport: TransportConfig) {
        self.steps = steps
        self.guidance = guidance
        self.transport = transport
    }

    /// `models` must be the base model without membranes; `progress(done, total)` returns false to cancel.
    public func generations(models base: PipelineModels, membranes: [(file: MembraneFile, choice: MembraneChoice)],
                            suite: TestbedPromptSuite,
                            progress: (Int, Int) -> Bool = { _, _ in true }) throws -> [TestbedGeneration] {
        var models = base
        let files = membranes.map(\.file)
        models.unet = try base.unet.attaching(MembraneAdapters.adapters(for: files))
        let gating = FacilitatedTransport(configuration: transport, files: files, choices: membranes.map(\.choice),
                                          encode: { base.transportText($0) })
        let size = models.nativeImageSize
        var generations: [TestbedGeneration] = []
        for (index, prompt) in suite.prompts.enumerated() {
            var request = GenerationRequest(prompt: prompt.text, steps: steps, guidance: guidance, width: size,
                                            height: size, seed: prompt.seed)
            let original = try models.generate(request).image  // no gates: the frozen model alone
            let (gates, explanations) = gating.gates(for: models.transportText(prompt.text))
            request.adapterGates = gates
            let erased = try models.generate(request).image
            generations.append(TestbedGeneration(prompt: prompt, base: original, withMembrane: erased, gates: explanations))
            guard progress(index + 1, suite.prompts.count) else { throw TrainingError.cancelled }
        }
        return generations
    }
}
