import Diffusion
import Membrane
import Foundation
import Synchronization

/// News from a generation.
public enum GenerationEvent: Sendable {
    case progress(step: Int, of: Int)
    /// One image per request, in order.
    case finished([RGBImage], seconds: Double)
    case failed(String)
    case cancelled
}

/// Text-to-image generations with the loaded model, through the engine's `generate` (the call the headless
/// command makes): one request, or two that differ only in their membrane gates for a side-by-side comparison.
/// Cancelling stops it after the step in progress.
public struct GenerateJob: CoreJob {
    public let requests: [GenerationRequest]
    public let store: ModelStore
    /// Tells this run's events apart from an earlier, cancelled run's.
    public let generation: Int
    /// When given, each request that applies membranes (has `adapterGates`) gets facilitated transport's gates
    /// for its own prompt in their place, as `spm-workbench generate` computes them.
    public let transport: RackTransport?

    public init(requests: [GenerationRequest], store: ModelStore, generation: Int, transport: RackTransport? = nil) {
        self.requests = requests
        self.store = store
        self.generation = generation
        self.transport = transport
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        guard let loaded = store.loaded else {
            post(.generation(generation, .failed("no model is loaded: start the workbench with --model PATH")))
            return
        }
        // A membrane attached between the request and now adds gate slots the request has no gate for.
        let slots = MembraneAdapters.gateSlots(for: loaded.files).count
        guard requests.allSatisfy({ ($0.adapterGates?.count ?? slots) == slots }) else {
            post(.generation(generation, .failed("the membranes changed while starting: generate again")))
            return
        }
        let models = loaded.models
        let cancelled = Atomic<Bool>(false)
        let (requests, generation, transport) = (self.requests, self.generation, self.transport)
        let started = Date()
        let outcome: GenerationEvent = await withTaskCancellationHandler {
            await onOwnThread {
                var requests = requests
                if let transport, requests.contains(where: { $0.adapterGates != nil }) {
                    guard let facilitated = transport.make(for: loaded) else {
                        return .failed("the membranes changed while starting: generate again")
                    }
                    for index in requests.indices where requests[index].adapterGates != nil {
                        requests[index].adapterGates = facilitated.gates(
                            for: models.transportText(requests[index].prompt, clipSkip: requests[index].clipSkip)).gates
                    }
                }
                do {
                    let total = requests.reduce(0) { $0 + $1.steps }
                    var done = 0
                    var images: [RGBImage] = []
                    for request in requests {
                        let result = try models.generate(request) { step, _ in
                            post(.generation(generation, .progress(step: done + step, of: total)))
                            return !cancelled.load(ordering: .relaxed)
                        }
                        done += request.steps
                        images.append(result.image)
                    }
                    return .finished(images, seconds: Date().timeIntervalSince(started))
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
