import Diffusion
import Foundation
import Membrane

/// Follows a training log (JSON lines written by the trainer) and plots its losses as it grows; starts, pauses,
/// resumes and stops training runs of the config editor's config (`TrainingJob`), following each run's log.
public final class TrainingMonitorScreen: Screen {
    public let title = "Training monitor"
    public let keyScope = KeyScope.trainingMonitor
    public private(set) var run = TrainingRun()
    public private(set) var path: String?
    public private(set) var state = State.idle
    /// The training run started here, if any.
    public private(set) var training = TrainingStatus.none
    private var generation = 0
    private var trainingGeneration = 0
    private var control = TrainingControl()
    /// The config of the run started here: resuming continues it (its checkpoint only fits this config).
    private var runConfig: TrainingConfig?
    /// What the run started here previews at each checkpoint (nil: no run started here).
    public private(set) var previewPlan: TrainingPreviewPlan?
    /// The latest previews: the plan's images (target, control) at checkpoint `step`.
    public private(set) var preview: (step: Int, images: [RGBImage])?
    /// The newest checkpoint not yet handed to a preview job (an older one waiting here is dropped for it).
    private var pendingCheckpoint: TrainingPreviewJob?
    /// The checkpoint step whose previews are being generated.
    public private(set) var previewingStep: Int?
    private let workingDirectory: String
    private let models: ModelStore
    /// The config to train and the one-line reason it cannot be trained (nil when valid): the config editor's.
    private let trainingConfig: () -> (config: TrainingConfig, problem: String?)?

    public enum State: Equatable {
        case idle, following, stopped
        case failed(String)
    }

    public enum TrainingStatus: Equatable {
        case none
        /// Loading the model and preparing (`resumed`: from the checkpoint).
        case starting(resumed: Bool)
        case running
        case pausing, stopping
        case paused(step: Int)
        case stopped(step: Int)
        case finished(membrane: String)
        case failed(String)

        /// Whether a run is going (a new one may not start).
        public var isActive: Bool {
            switch self {
            case .starting, .running, .pausing, .stopping: return true
            default: return false
            }
        }
    }

    public init(workingDirectory: String = FileManager.default.currentDirectoryPath, models: ModelStore = ModelStore(),
                trainingConfig: @escaping () -> (config: TrainingConfig, problem: String?)? = { nil }) {
        self.workingDirectory = workingDirectory
        self.models = models
        self.trainingConfig = trainingConfig
    }

    /// Starts following `path` (absolute, or relative to the working directory). `quietWhileMissing`: a log a
    /// run is about to create is waited for without a warning.
    public func follow(_ path: String, quietWhileMissing: Bool = false) -> [ScreenEffect] {
        let resolved = resolve(path)
        generation += 1
        self.path = resolved
        run = TrainingRun()
        state = .following
        return [.startJob(FollowTrainingLog(path: resolved, generation: generation, reportMissing: !quietWhileMissing),
                          .trainingLog),
                .log(LogEntry(.info, "following training log \(resolved)"))]
    }

    // MARK: Training

    private func startTraining(resume: Bool) -> [ScreenEffect] {
        if training.isActive { return [.hint("a run is going: p pauses it, x stops it")] }
        let config: TrainingConfig
        if resume {
            switch training {
            case .paused, .stopped, .failed:
                guard let runConfig else { return [.hint("nothing to resume: r starts a run")] }
                config = runConfig
            default:
                return [.hint("nothing to resume: r starts a run")]
            }
        } else {
            guard let edited = trainingConfig() else { return [.hint("no training config: open the config editor (4)")] }
            if let problem = edited.problem { return [.hint("not started: \(problem)")] }
            config = edited.config
        }
        runConfig = config
        trainingGeneration += 1
        control = TrainingControl()
        training = .starting(resumed: resume)
        previewPlan = TrainingPreviewPlan(config: config)
        preview = nil
        pendingCheckpoint = nil
        previewingStep = nil
        previewFailure = nil
        let outputs = TrainingOutputs(config: config)
        return [.startJob(TrainingJob(config: config, resume: resume, control: control, generation: trainingGeneration,
                                      store: models), .training),
                .log(LogEntry(.info, (resume ? "resuming" : "starting") + " training \(outputs.membrane.path) "
                              + "(\(config.train.iterations) steps)"))]
            + follow(outputs.log.path, quietWhileMissing: true) + [.show(self)]
    }

    private func endTraining(_ request: TrainingControl.Request) -> [ScreenEffect] {
        switch training {
        case .starting, .running, .pausing, .stopping:
            control.ask(request)
            training = request == .pause ? .pausing : .stopping
            return [.hint(request == .pause ? "pausing after the current step …" : "stopping after the current step …")]
        case .paused(let step) where request == .stop:
            training = .stopped(step: step)
            return [.log(LogEntry(.info, "training stopped at step \(step); its checkpoint is kept (u resumes)"))]
        default:
            return [.hint("no training run is going")]
        }
    }

    private func addTrainedMembrane() -> [ScreenEffect] {
        guard case .finished(let membrane) = training else { return [.hint("no finished run: its membrane is added once it is written")] }
        guard models.loaded != nil else { return [.hint("no model is loaded to attach it to (start with --model PATH)")] }
        return [.startJob(AttachMembraneJob(choice: MembraneChoice(path: membrane), store: models), .membranes),
                .log(LogEntry(.info, "reading membrane \(membrane) …"))]
    }

    private func resolve(_ path: String) -> String { resolvePath(path, in: workingDirectory) }

    public func perform(_ action: Action) -> [ScreenEffect] {
        switch action {
        case .openTrainingLog:
            let prompt = TextPrompt(label: "Training log", value: path ?? "", validate: { [weak self] value in
                guard let self else { return nil }
                if value.trimmingCharacters(in: .whitespaces).isEmpty { return "enter a path to a .jsonl file" }
                var isDirectory: ObjCBool = false
                let resolved = self.resolve(value)
                guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
                    return "no such file: \(resolved)"
                }
                return isDirectory.boolValue ? "\(resolved) is a directory, expected a file" : nil
            }, accept: { [weak self] value in self?.follow(value) ?? [] })
            return [.prompt(prompt)]
        case .startTraining: return startTraining(resume: false)
        case .resumeTraining: return startTraining(resume: true)
        case .pauseTraining: return endTraining(.pause)
        case .stopTraining: return endTraining(.stop)
        case .addTrainedMembrane: return addTrainedMembrane()
        case .closeTrainingLog:
            guard state == .following, let path else { return [.hint("no training log is being followed")] }
            state = .stopped
            return [.cancelJob(.trainingLog), .log(LogEntry(.info, "stopped following \(path)"))]
        default:
            return []
        }
    }

    public func receive(_ event: CoreEvent) -> Bool {
        if case .training(let number, let news) = event {
            guard number == trainingGeneration else { return false }
            switch news {
            case .running: if case .starting = training { training = .running }
            case .checkpoint(let step, let weights, let models):
                guard let previewPlan else { return false }
                pendingCheckpoint = TrainingPreviewJob(step: step, weights: weights, models: models, plan: previewPlan,
                                                       generation: number)
                return false
            case .ended(let request, let step): training = request == .pause ? .paused(step: step) : .stopped(step: step)
            case .finished(let membrane, _, _): training = .finished(membrane: membrane)
            case .failed(let message): training = .failed(message)
            }
            return true
        }
        if case .trainingPreview(let number, let news) = event {
            guard number == trainingGeneration else { return false }
            switch news {
            case .finished(let step, let images):
                preview = (step, images)
                if previewingStep == step { previewingStep = nil }
            case .failed(let step, let message):
                if previewingStep == step { previewingStep = nil }
                previewFailure = "preview of step \(step): \(message)"
            }
            return true
        }
        guard case .trainingLog(let eventGeneration, let news) = event, eventGeneration == generation,
              state != .stopped else { return false }
        switch news {
        case .started:
            run = TrainingRun()
            state = .following
        case .batch(let batch):
            run.absorb(batch)
        case .failed(let message):
            state = .failed(message)
        }
        return true
    }

    /// Hands the newest checkpoint to a preview job: starting it in the preview slot cancels a stale one.
    /// Previews are made while the monitor shows (nobody sees them otherwise); the newest waits until then.
    public func refresh() -> [ScreenEffect] {
        guard let job = pendingCheckpoint else { return [] }
        pendingCheckpoint = nil
        previewingStep = job.step
        return [.startJob(job, .trainingPreview)]
    }

    /// The last preview failure, shown in the panel until the next preview.
    private var previewFailure: String?

    public func draw(on surface: inout Surface, context: ScreenContext) {
        let sideWidth = surface.width >= 60 ? min(32, surface.width / 3) : 0
        let (mainArea, sideArea) = surface.local.splitRight(sideWidth)
        let previewHeight = previewPlan != nil && mainArea.height >= 16 ? min(16, mainArea.height / 2) : 0
        let (chartArea, previewArea) = mainArea.splitBottom(previewHeight)
        let name = path.map { ($0 as NSString).lastPathComponent }
        if previewHeight > 0, let previewPlan {
            surface.within(previewArea) { area in drawPreview(previewPlan, on: &area, context: context) }
        }
        surface.within(chartArea) { chart in
            Panel(title: name.map { "Loss · \($0)" } ?? "Loss").draw(on: &chart) { inner in
                LineChart(series: run.series, emptyMessage: emptyMessage).draw(on: &inner)
            }
        }
        guard sideWidth > 0 else { return }
        surface.within(sideArea) { side in
            Panel(title: "Run").draw(on: &side) { inner in drawSummary(on: &inner) }
        }
    }

    /// The target and control previews side by side, each under its prompt.
    private func drawPreview(_ plan: TrainingPreviewPlan, on surface: inout Surface, context: ScreenContext) {
        let title = preview.map { "Preview · step \($0.step)" } ?? "Preview"
        let busy = previewingStep.map { " · generating step \($0) …" } ?? ""
        Panel(title: title + busy).draw(on: &surface) { inner in
            guard let preview, preview.images.count == 2 else {
                let message = previewFailure ?? "The target and control prompts are drawn with the membrane at each checkpoint (save.every)."
                inner.write(message, x: 0, y: 0, role: .muted)
                return
            }
            let (left, right) = inner.local.splitRight(inner.width / 2)
            for (area, label, prompt, image) in [(left, "target", plan.target, preview.images[0]),
                                                 (right, "control", plan.control, preview.images[1])] {
                inner.within(area) { half in
                    let (caption, picture) = half.local.splitTop(1)
                    let x = half.write(label + " ", x: caption.x, y: caption.y, role: .muted)
                    half.write(prompt, x: x, y: caption.y, role: .text)
                    half.within(picture) { ImageView(image: image, imageProtocol: context.imageProtocol,
                                                     paletteSize: context.paletteSize).draw(on: &$0) }
                }
            }
        }
    }

    private var emptyMessage: String {
        switch state {
        case .idle: return "No training log open: press o to open one (JSON lines, one object per step), or r to train the config editor's config."
        case .failed(let message): return message
        case .following, .stopped: return "Waiting for the first step…"
        }
    }

    private func drawSummary(on surface: inout Surface) {
        var row = 0
        func line(_ label: String, _ value: String, _ role: ColorRole = .text) {
            guard row < surface.height else { return }
            let x = surface.write(padded(label, toWidth: 8), x: 0, y: row, role: .muted)
            surface.write(value, x: x, y: row, role: role)
            row += 1
        }
        let stateText: (String, ColorRole) = switch state {
        case .idle: ("no log open", .muted)
        case .following: ("following", .success)
        case .stopped: ("stopped", .warning)
        case .failed: ("waiting for file", .warning)
        }
        line("status", stateText.0, stateText.1)
        if training != .none {
            let (text, role): (String, ColorRole) = switch training {
            case .none: ("", .muted)
            case .starting(let resumed): (resumed ? "resuming …" : "loading …", .warning)
            case .running: ("running (p x)", .success)
            case .pausing: ("pausing …", .warning)
            case .stopping: ("stopping …", .warning)
            case .paused(let step): ("paused at \(step) (u)", .warning)
            case .stopped(let step): ("stopped at \(step) (u r)", .warning)
            case .finished: ("done: m adds it", .success)
            case .failed(let message): (message, .error)
            }
            line("train", text, role)
        }
        guard let latest = run.latest else { return }
        if let total = latest.totalSteps { line("step", "\(latest.step) / \(total)") } else { line("step", "\(latest.step)") }
        if let progress = run.progress, row < surface.height {
            surface.within(Rect(x: 0, y: row, width: surface.width, height: 1)) {
                ProgressBar(fraction: progress).draw(on: &$0)
            }
            row += 1
        }
        line("loss", axisLabel(latest.loss))
        if let erase = latest.eraseLoss { line("erase", axisLabel(erase), .series(0)) }
        if let anchor = latest.anchorLoss { line("anchor", axisLabel(anchor), .series(1)) }
        if let rate = latest.learningRate { line("lr", String(format: "%.2e", rate)) }
        if let speed = run.stepsPerSecond { line("it/s", String(format: "%.2f", speed)) }
        if let remaining = run.secondsRemaining { line("eta", formatDuration(remaining)) }
        line("records", "\(run.records.count)")
        if run.problemCount > 0 {
            line("skipped", run.problemCount == 1 ? "1 bad line (see log)" : "\(run.problemCount) bad lines (see log)",
                 .warning)
        }
    }
}

/// "1h02m", "3m20s", "45s".
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60) }
    if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return "\(total)s"
}

/// The full log, scrollable.
public final class LogScreen: Screen {
    public let title = "Log"
    public let keyScope = KeyScope.log

    public init() {}

    public func perform(_ action: Action) -> [ScreenEffect] {
        switch action {
        case .scrollUp: return [.scrollLog(1)]
        case .scrollDown: return [.scrollLog(-1)]
        case .pageUp: return [.scrollLog(10)]
        case .pageDown: return [.scrollLog(-10)]
        case .scrollToEnd: return [.followLog]
        default: return []
        }
    }

    public func receive(_ event: CoreEvent) -> Bool { false }

    public func draw(on surface: inout Surface, context: ScreenContext) {
        Panel(title: "Log (\(context.log.entries.count) messages)").draw(on: &surface) { inner in
            LogView(book: context.log).draw(on: &inner)
        }
    }
}
