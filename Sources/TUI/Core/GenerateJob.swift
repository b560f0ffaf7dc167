import Diffusion
import Foundation
import Synchronization

/// News from a generation.
public enum GenerationEvent: Sendable {
    case progress(step: Int, of: Int)
    case finished(RGBImage, seconds: Double)
    case failed(String)
    case cancelled
}

/// One text-to-image generation with the loaded model, through the engine's `generate` (the call the headless
/// command makes). Cancelling stops it after the step in progress.
public struct GenerateJob: CoreJob {
    public let request: GenerationRequest
    public let store: ModelStore
    /// Tells this run's events apart from an earlier, cancelled run's.
    public let generation: Int

    public init(request: GenerationRequest, store: ModelStore, generation: Int) {
        self.request = request
        self.store = store
        self.generation = generation
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        guard let models = store.loaded?.models else {
            post(.generation(generation, .failed("no model is loaded: start the workbench with --model PATH")))
            return
        }
        let cancelled = Atomic<Bool>(false)
        let (request, generation) = (self.request, self.generation)
        let started = Date()
        let outcome: GenerationEvent = await withTaskCancellationHandler {
            await onOwnThread {
                do {
                    let result = try models.generate(request) { step, total in
                        post(.generation(generation, .progress(step: step, of: total)))
                        return !cancelled.load(ordering: .relaxed)
                    }
                    return .finished(result.image, seconds: Date().timeIntervalSince(started))
                } catch GenerationError.cancelled {
                    return .cancelled
                } catch {
                    return .failed("\(error)")
                }
            }
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
        }
        post(.generation(generation, outcome))
    }
}
