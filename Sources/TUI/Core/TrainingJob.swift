import Diffusion
import Foundation
import Membrane
import Synchronization

/// How the UI asks a running training job to end: after the step in progress, with a checkpoint written, so the
/// run can be resumed. Pausing and stopping end the run the same way; they differ in what the monitor offers next.
public final class TrainingControl: Sendable {
    public enum Request: Int, Sendable {
        case keepGoing = 0, pause, stop
    }

    private let request = Atomic<Int>(Request.keepGoing.rawValue)

    public init() {}

    public func ask(_ wanted: Request) { request.store(wanted.rawValue, ordering: .relaxed) }

    public var requested: Request { Request(rawValue: request.load(ordering: .relaxed)) ?? .keepGoing }
}

/// News from a training run started in the workbench.
public enum TrainingJobEvent: Sendable {
    /// The model is loaded and the first step is logged: the log at `outputs.log` exists and grows from here.
    case running(TrainingOutputs)
    /// A checkpoint was written at `step`: the membrane's factors then, and the frozen base model they attach to
    /// (for previews; both are copy-on-write values, so posting them copies no tensors).
    case checkpoint(step: Int, weights: MembraneWeights, models: PipelineModels)
    /// The run ended after a step at the user's request (`.pause` or `.stop`); the checkpoint holds `step`.
    case ended(TrainingControl.Request, step: Int)
    /// Every step ran and the membrane was written.
    case finished(membrane: String, layers: Int, seconds: Double)
    case failed(String)
}

/// One training run with `MembraneTrainer.run` — the call `spm-workbench train` makes — on a thread of its own:
/// takes the config's base model (the workbench's own when it is that model with no membranes attached, else loaded
/// anew), trains (resuming from the checkpoint when asked), and reports through
/// `CoreEvent.training`. The monitor follows the run's JSON-lines log for the curves. Cancelling the job (quitting
/// the workbench) ends it like a stop: after the step in progress, with a checkpoint.
public struct TrainingJob: CoreJob {
    public let config: TrainingConfig
    public let resume: Bool
    public let control: TrainingControl
    /// Tells this run's events apart from an earlier run's.
    public let generation: Int
    /// The workbench's model, reused when it is the one the config trains.
    public let store: ModelStore?

    public init(config: TrainingConfig, resume: Bool, control: TrainingControl, generation: Int, store: ModelStore? = nil) {
        self.config = config
        self.resume = resume
        self.control = control
        self.generation = generation
        self.store = store
    }

    /// The frozen base model the config names, and whether it is the store's: the store's is used when it is the
    /// same folder or file with no membrane attached (a second copy of an SDXL model would double the memory),
    /// else the model is read from disk.
    static func baseModel(for config: TrainingConfig, store: ModelStore?) throws -> (models: PipelineModels, reused: Bool) {
        let wanted = URL(fileURLWithPath: config.model.path).standardizedFileURL.resolvingSymlinksInPath()
        if let loaded = store?.loaded, loaded.files.isEmpty,
           URL(fileURLWithPath: loaded.path).standardizedFileURL.resolvingSymlinksInPath() == wanted {
            return (loaded.models, true)
        }
        return (try PipelineModels.load(from: wanted, layerWeights: config.train.precision), false)
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let (config, resume, control, generation, store) = (self.config, self.resume, self.control, self.generation, self.store)
        let send: @Sendable (TrainingJobEvent) -> Void = { post(.training(generation: generation, $0)) }
        let outcome: TrainingJobEvent = await withTaskCancellationHandler {
            await onOwnThread {
                // Training takes whole cores for minutes: at a lower priority it leaves the UI thread (and the
                // rest of the machine) the moment they need it. On Linux nice is per thread: who = 0 is this thread alone.
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                let started = Date()
                do {
                    let (models, _) = try TrainingJob.baseModel(for: config, store: store)
                    var trainer = try MembraneTrainer(config: config, models: models)
                    let outputs = TrainingOutputs(config: config)
                    var announced = false
                    var lastStep = 0
                    let membrane = try trainer.run(outputs: outputs, resume: resume) { result, _ in
                        if !announced {
                            send(.running(outputs))
                            announced = true
                        }
                        lastStep = result.step
                        return control.requested == .keepGoing
                    } onCheckpoint: { state in
                        send(.checkpoint(step: state.step, weights: state.weights, models: models))
                    }
                    guard let membrane else { return .ended(control.requested, step: lastStep) }
                    return .finished(membrane: outputs.membrane.path, layers: membrane.layers.count,
                                     seconds: Date().timeIntervalSince(started))
                } catch {
                    return .failed("\(error)")
                }
            }
        } onCancel: {
            control.ask(.stop)
        }
        switch outcome {
        case .ended(let request, let step):
            post(.log(LogEntry(.info, "training \(request == .pause ? "paused" : "stopped") after step \(step); "
                               + "checkpoint \(TrainingOutputs(config: config).checkpoint.path) (u resumes)")))
        case .finished(let membrane, let layers, let seconds):
            post(.log(LogEntry(.info, "wrote membrane \(membrane) (\(layers) layers) in "
                               + String(format: "%.1f s", seconds) + "; m on the monitor adds it to the rack")))
        case .failed(let message):
            post(.log(LogEntry(.error, "training: \(message)")))
        case .running, .checkpoint:
            break
        }
        send(outcome)
    }
}
