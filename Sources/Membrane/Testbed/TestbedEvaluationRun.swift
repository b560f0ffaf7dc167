import Diffusion
import Foundation

/// Generates a prompt suite with and without membranes (same seeds): the pairs `TestbedErasureReport` scores, what
/// `spm-workbench evaluate --task testbed` runs.
public struct TestbedEvaluationRun: Sendable {
    public var steps: Int
    public var guidance: Float
    /// How the membranes are gated per prompt; `off` keeps every membrane at its weight (a plain LoRA).
    public var transport: TransportConfig
    /// Prompts generated together through the UNet (each twice: without and with the membranes).
    public var batchSize: Int

    public init(steps: Int = 20, guidance: Float = 7.5, transport: TransportConfig, batchSize: Int = 8) {
        self.steps = steps
        self.guidance = guidance
        self.transport = transport
        self.batchSize = max(batchSize, 1)
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
        for start in stride(from: 0, to: suite.prompts.count, by: batchSize) {
            let prompts = suite.prompts[start..<min(start + batchSize, suite.prompts.count)]
            let gated = prompts.map { gating.gates(for: models.transportText($0.text)) }
            // Each prompt twice, same seed: gate 0 (the frozen model) and its transport gates.
            let requests = zip(prompts, gated).flatMap { prompt, gated in
                [nil, gated.gates].map { gates in
                    var request = GenerationRequest(prompt: prompt.text, steps: steps, guidance: guidance, width: size,
                                                    height: size, seed: prompt.seed)
                    request.adapterGates = gates
                    return request
                }
            }
            let images = try models.generate(batch: requests).map(\.image)
            for (index, (prompt, gated)) in zip(prompts, gated).enumerated() {
                generations.append(TestbedGeneration(prompt: prompt, base: images[2 * index], withMembrane: images[2 * index + 1],
                                                     gates: gated.explanations))
            }
            guard progress(generations.count, suite.prompts.count) else { throw TrainingError.cancelled }
        }
        return generations
    }
}
