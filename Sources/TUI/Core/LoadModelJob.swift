import Diffusion
import Foundation

/// Loads the base model with the engine (the same call `spm-workbench generate` makes) and reports what it
/// holds, or the one-line reason it cannot be loaded.
public struct LoadModelJob: CoreJob {
    public let path: String

    public init(path: String) { self.path = path }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let started = Date()
        let path = self.path
        // Loading is blocking file I/O and conversion: it gets a thread of its own, so the cooperative pool
        // (and with it every other job's messages) never waits on it.
        let result: Result<PipelineModels, any Error> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: Result { try PipelineModels.load(from: URL(fileURLWithPath: path)) })
            }
        }
        guard !Task.isCancelled else { return }
        switch result {
        case .success(let models):
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
            let levels = models.unet.configuration.downLevels.map(\.outChannels)
            var message = "model \(path) loaded in \(seconds) s: \(models.architecture.rawValue) layout, UNet channels \(levels), "
                + "images in multiples of \(models.sizeMultiple) px"
            if !models.unusedTensors.isEmpty { message += "; \(models.unusedTensors.count) stored tensors unused" }
            post(.log(LogEntry(models.unusedTensors.isEmpty ? .info : .warning, message)))
        case .failure(let error):
            post(.log(LogEntry(.error, "\(error)")))
        }
    }
}
