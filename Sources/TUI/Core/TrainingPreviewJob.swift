import Diffusion
import Foundation
import Membrane
import Synchronization

/// What the training monitor previews at each checkpoint: the config's first target prompt (what the membrane
/// should erase) and a control prompt (what it should leave alone): the first concept's neutral prompt when it
/// has one, else a fixed prompt unrelated to any concept. Both use the same seed every time, so successive
/// previews differ only by the membrane's training.
public struct TrainingPreviewPlan: Sendable, Equatable {
    /// The control prompt when the config has no neutral prompt: a scene unlikely to share a concept with a target.
    public static let fallbackControl = "a lighthouse on a rocky coast at dusk"
    public static let steps = 10

    public var target: String
    public var control: String
    public var seed: UInt64

    public init(config: TrainingConfig) {
        let first = config.concepts.first
        target = first?.target ?? ""
        let neutral = first?.neutral.trimmingCharacters(in: .whitespaces) ?? ""
        control = neutral.isEmpty ? Self.fallbackControl : neutral
        seed = config.train.seed
    }

    /// The two requests (target, control) at the model's native size, with the one membrane fully on.
    public func requests(for models: PipelineModels) -> [GenerationRequest] {
        let size = models.nativeImageSize
        return [target, control].map { prompt in
            var request = GenerationRequest(prompt: prompt, steps: Self.steps, width: size, height: size, seed: seed)
            request.adapterGates = [1]
            return request
        }
    }
}

/// News from a preview of a checkpoint: the images in the plan's order (target, control).
public enum TrainingPreviewEvent: Sendable {
    case finished(step: Int, images: [RGBImage])
    case failed(step: Int, String)
}

/// Generates the plan's previews with the membrane of one checkpoint attached to the frozen base model, on a
/// thread of its own. The monitor starts one per checkpoint in `JobSlot.trainingPreview`, so a newer checkpoint
/// cancels a stale preview (after the step in progress) instead of queueing behind it.
public struct TrainingPreviewJob: CoreJob {
    public let step: Int
    public let weights: MembraneWeights
    public let models: PipelineModels
    public let plan: TrainingPreviewPlan
    /// The training run this checkpoint came from.
    public let generation: Int

    public init(step: Int, weights: MembraneWeights, models: PipelineModels, plan: TrainingPreviewPlan, generation: Int) {
        self.step = step
        self.weights = weights
        self.models = models
        self.plan = plan
        self.generation = generation
    }

    /// The previews, generated as the library generates with a membrane attached.
    public static func images(weights: MembraneWeights, models base: PipelineModels, plan: TrainingPreviewPlan,
                              keepGoing: @escaping () -> Bool = { true }) throws -> [RGBImage] {
        var models = base
        models.unet = try base.unet.attaching(weights.adapters(trainable: false).adapters)
        return try plan.requests(for: models).map { request in
            try models.generate(request) { _, _ in keepGoing() }.image
        }
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let (step, weights, models, plan, generation) = (self.step, self.weights, self.models, self.plan, self.generation)
        let cancelled = Atomic<Bool>(false)
        let outcome: TrainingPreviewEvent? = await withTaskCancellationHandler {
            await onOwnThread {
                // Below the UI thread, like training: a preview is worth less than a responsive workbench.
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                do {
                    let images = try TrainingPreviewJob.images(weights: weights, models: models, plan: plan) {
                        !cancelled.load(ordering: .relaxed)
                    }
                    return .finished(step: step, images: images)
                } catch GenerationError.cancelled {
                    return nil
                } catch {
                    return .failed(step: step, "\(error)")
                }
            }
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
        }
        if let outcome { post(.trainingPreview(generation: generation, outcome)) }
    }
}
