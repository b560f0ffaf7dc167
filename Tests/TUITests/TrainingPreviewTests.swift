import Diffusion
import Foundation
import Membrane
import Testing
@testable import TUI

/// The monitor's previews of a run started in the workbench: at each checkpoint, the target and control prompts
/// generated with the membrane of that checkpoint.
@Suite("Training previews", .serialized)
struct TrainingPreviewTests {
    @Test("the plan previews the first target and the neutral prompt, else the fixed control, at the native size")
    func plan() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tui-plan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = try TrainingFromTheWorkbenchTests.config(iterations: 5, folder: folder)
        let fallback = TrainingPreviewPlan(config: config)
        #expect(fallback.target == "a red apple")
        #expect(fallback.control == TrainingPreviewPlan.fallbackControl)
        #expect(fallback.seed == config.train.seed)
        config.concepts[0].neutral = "a green pear"
        #expect(TrainingPreviewPlan(config: config).control == "a green pear")
        let models = try PipelineModels.load(from: URL(fileURLWithPath: TrainingFromTheWorkbenchTests.tinyModel))
        let requests = fallback.requests(for: models)
        #expect(requests.map(\.prompt) == ["a red apple", TrainingPreviewPlan.fallbackControl])
        #expect(requests.allSatisfy { $0.width == models.nativeImageSize && $0.height == models.nativeImageSize
                && $0.steps == TrainingPreviewPlan.steps && $0.adapterGates == [1] && $0.seed == config.train.seed })
    }

    @Test("a checkpoint of a run started in the workbench shows previews equal to a library generation with its weights")
    func previewsMatchLibrary() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tui-preview-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let iterations = 5
        var config = try TrainingFromTheWorkbenchTests.config(iterations: iterations, folder: root.appendingPathComponent("tui"))
        config.save.every = 2  // checkpoints at steps 2 and 4 (the last step writes the membrane instead)
        let bench = TrainingFromTheWorkbenchTests.Bench(config: { (config, nil) })
        bench.app.handle(.character("r"))
        try await bench.until("the end") { if case .finished = bench.monitor.training { true } else { false } }
        try await bench.until("the last checkpoint's preview") { bench.monitor.preview?.step == 4 }
        let shown = try #require(bench.monitor.preview)
        #expect(bench.monitor.previewingStep == nil)

        // The same config trained straight through by the library; its step-4 factors generate the previews
        // with requests spelled out here.
        var straightConfig = try TrainingFromTheWorkbenchTests.config(iterations: iterations,
                                                                       folder: root.appendingPathComponent("straight"))
        straightConfig.save.every = 2
        let base = try PipelineModels.load(from: URL(fileURLWithPath: TrainingFromTheWorkbenchTests.tinyModel))
        var trainer = try MembraneTrainer(config: straightConfig, models: base)
        var checkpoints: [Int: MembraneWeights] = [:]
        _ = try trainer.run(outputs: TrainingOutputs(config: straightConfig), resume: false,
                            onCheckpoint: { checkpoints[$0.step] = $0.weights })
        #expect(checkpoints.keys.sorted() == [2, 4])
        var withMembrane = base
        withMembrane.unet = try base.unet.attaching(try #require(checkpoints[4]).adapters(trainable: false).adapters)
        let size = base.nativeImageSize
        let expected = try ["a red apple", TrainingPreviewPlan.fallbackControl].map { prompt in
            var request = GenerationRequest(prompt: prompt, steps: 10, width: size, height: size, seed: 3)
            request.adapterGates = [1]
            return try withMembrane.generate(request).image
        }
        #expect(shown.images == expected)
        // The membrane changes the picture: the preview is not the frozen model's.
        var frozen = GenerationRequest(prompt: "a red apple", steps: 10, width: size, height: size, seed: 3)
        frozen.adapterGates = nil
        #expect(try base.generate(frozen).image != shown.images[0])
        bench.app.core.cancelAll()
    }
}
