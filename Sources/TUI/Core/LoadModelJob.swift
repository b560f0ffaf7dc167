import Diffusion
import Foundation
import Synchronization

/// The base model the workbench works on, shared by the jobs that load it and the jobs that use it.
public final class ModelStore: Sendable {
    private let current = Mutex<(path: String, models: PipelineModels)?>(nil)

    public init() {}

    public var loaded: (path: String, models: PipelineModels)? { current.withLock { $0 } }

    func set(path: String, models: PipelineModels) { current.withLock { $0 = (path, models) } }
}

/// Runs blocking engine work on a thread of its own, so the cooperative pool (and with it every other job's
/// messages) never waits on it.
func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// Loads the base model with the engine (the same call `spm-workbench generate` makes), keeps it in the store
/// and reports what it holds, or the one-line reason it cannot be loaded.
public struct LoadModelJob: CoreJob {
    public let path: String
    public let store: ModelStore

    public init(path: String, store: ModelStore) {
        self.path = path
        self.store = store
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let started = Date()
        let path = self.path
        let result = await onOwnThread { Result { try PipelineModels.load(from: URL(fileURLWithPath: path)) } }
        guard !Task.isCancelled else { return }
        switch result {
        case .success(let models):
            store.set(path: path, models: models)
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
            let levels = models.unet.configuration.downLevels.map(\.outChannels)
            var message = "model \(path) loaded in \(seconds) s: \(models.architecture.rawValue) layout, UNet channels \(levels), "
                + "images in multiples of \(models.sizeMultiple) px"
            if !models.unusedTensors.isEmpty { message += "; \(models.unusedTensors.count) stored tensors unused" }
            post(.log(LogEntry(models.unusedTensors.isEmpty ? .info : .warning, message)))
            post(.modelLoaded(path: path, sizeMultiple: models.sizeMultiple))
        case .failure(let error):
            post(.log(LogEntry(.error, "\(error)")))
        }
    }
}
