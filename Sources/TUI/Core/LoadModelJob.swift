import Diffusion
import Foundation
import Membrane
import Synchronization

/// The base model the workbench works on (with its membranes attached), shared by the jobs that load it and
/// the jobs that use it.
public final class ModelStore: Sendable {
    public struct Loaded: Sendable {
        public var path: String
        public var models: PipelineModels
        /// Attached in this order.
        public var membranes: [MembraneChoice]
        /// The membranes as read, in the same order (attaching another rebuilds the adapters from these).
        public var files: [MembraneFile]
    }

    private let current = Mutex<Loaded?>(nil)

    public init() {}

    public var loaded: Loaded? { current.withLock { $0 } }

    func set(_ loaded: Loaded) { current.withLock { $0 = loaded } }
}

/// Loads the base model with the engine (the same call `spm-workbench generate` makes), keeps it in the store
/// and reports what it holds, or the one-line reason it cannot be loaded.
public struct LoadModelJob: CoreJob {
    public let path: String
    public let membranes: [MembraneChoice]
    public let store: ModelStore

    public init(path: String, membranes: [MembraneChoice] = [], store: ModelStore) {
        self.path = path
        self.membranes = membranes
        self.store = store
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let started = Date()
        let (path, membranes) = (self.path, self.membranes)
        let result = await onOwnThread {
            Result {
                var models = try PipelineModels.load(from: URL(fileURLWithPath: path),
                                                     layerWeights: ComputeEnvironment.precision)
                let layout = MembraneLayout(unet: models.unet.configuration)
                let files = try MembraneFile.read(membranes.map { URL(fileURLWithPath: $0.path) }, layout: layout)
                if !files.isEmpty { models.unet = try models.unet.attaching(MembraneAdapters.adapters(for: files)) }
                return (models, files)
            }
        }
        guard !Task.isCancelled else { return }
        switch result {
        case .success(let (models, files)):
            store.set(ModelStore.Loaded(path: path, models: models, membranes: membranes, files: files))
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
            let levels = models.unet.configuration.downLevels.map(\.outChannels)
            var message = "model \(path) loaded in \(seconds) s: \(models.architecture.rawValue) layout, UNet channels \(levels), "
                + "images in multiples of \(models.sizeMultiple) px"
            if !models.unusedTensors.isEmpty { message += "; \(models.unusedTensors.count) stored tensors unused" }
            if !membranes.isEmpty { message += "; membranes " + membranes.map { "\($0.name):\($0.weight)" }.joined(separator: ", ") }
            post(.log(LogEntry(models.unusedTensors.isEmpty ? .info : .warning, message)))
            post(.modelLoaded(path: path, sizeMultiple: models.sizeMultiple))
        case .failure(let error):
            post(.log(LogEntry(.error, "\(error)")))
        }
    }
}
