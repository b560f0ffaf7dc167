import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench train`: one membrane training run from a YAML config (flags override it), with progress on
/// stderr, the per-step loss log as JSON lines, checkpoints, `--resume`, and the membrane file at the end.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a membrane that erases the config's concepts.",
        discussion: """
            Writes, in the config's save.output folder (or beside --out): NAME.safetensors (the membrane), \
            NAME.checkpoint.safetensors (every save.every steps; --resume continues from it and reaches the same \
            file as an uninterrupted run) and NAME.jsonl (one JSON record per step: loss, erase_loss, \
            anchor_loss, lr — what the workbench's training monitor plots). Relative paths are relative to the \
            current directory.
            """
    )

    @Argument(help: "The training config (YAML; see configs/).")
    var config: String

    @Option(help: "The base model (overrides model.path): a diffusers folder or a single-file .safetensors.")
    var model: String?

    @Option(help: "Training steps (overrides train.iterations).")
    var iterations: Int?

    @Option(help: "Training image side in pixels (overrides train.resolution).")
    var resolution: Int?

    @Option(help: "Seed of every random draw of the run (overrides train.seed).")
    var seed: UInt64?

    @Option(help: ArgumentHelp("The forward passes' arithmetic (overrides train.precision): fp32, or bf16 (linear layers, convolutions and attention's products in bf16 on oneDNN; gradients in fp32).", valueName: "fp32|bf16"))
    var precision: ComputePrecision?

    @Flag(help: "Continue from the run's checkpoint when there is one.")
    var resume = false

    @Option(help: "The membrane file to write (default: save.output/NAME.safetensors).")
    var out: String?

    func run() throws {
        try reportingErrors {
            var config = try TrainingConfig.load(from: URL(fileURLWithPath: self.config))
            if let model { config.model.path = model }
            if let iterations { config.train.iterations = iterations }
            if let resolution {
                config.train.resolution = resolution
                config.train.dynamicResolution = nil
            }
            if let seed { config.train.seed = seed }
            if let precision { config.train.precision = precision }
            do {
                try config.validate()
            } catch {
                throw ValidationError("\(self.config): \(error)")
            }
            ComputeEnvironment.setPrecision(config.train.precision)
            let models = try PipelineModels.load(from: URL(fileURLWithPath: config.model.path),
                                                 layerWeights: config.train.precision)
            var trainer = try MembraneTrainer(config: config, models: models)
            trainer.runsSampleGroupsSideBySide = true  // nothing else runs in this process
            let outputs = TrainingOutputs(config: config, membrane: out.map { URL(fileURLWithPath: $0) })
            let progress = TrainingProgressLine(total: config.train.iterations)
            guard let membrane = try trainer.run(outputs: outputs, resume: resume, onStep: { result, record in
                progress.show(result, record)
                return true
            }) else { return }
            progress.finish()
            FileHandle.standardError.write(Data("wrote \(outputs.membrane.path) (\(membrane.layers.count) layers, rank \(membrane.rank), concepts: \(membrane.concepts.map(\.name).joined(separator: ", ")))\n".utf8))
        }
    }
}

/// The one progress line `train` keeps rewriting on stderr: step, losses, learning rate, speed and ETA.
final class TrainingProgressLine {
    private let total: Int
    private var firstStep: Int?
    private var firstElapsed = 0.0
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(total: Int) { self.total = total }

    func show(_ result: MembraneTrainer.StepResult, _ record: TrainingRecord) {
        let elapsed = record.elapsedSeconds ?? 0
        if firstStep == nil {
            firstStep = result.step
            firstElapsed = elapsed
        }
        let stepsTimed = Double(result.step - firstStep!)
        let rate = stepsTimed > 0 ? stepsTimed / max(elapsed - firstElapsed, 1e-9) : nil
        let eta = rate.map { Self.duration(Double(total - result.step) / $0) } ?? "…"
        let speed = rate.map { String(format: "%.2f it/s", $0) } ?? "…"
        let line = "step \(result.step)/\(total)  "
            // Significant digits, not decimals: the anchor MSE is often 1e-7 while λ·anchor matters.
            + String(format: "loss %.4g (erase %.4g, anchor %.4g)  lr %.2e", result.loss, result.eraseLoss,
                     result.anchorLoss, result.learningRate)
            + "  \(speed)  ETA \(eta)"
        // On a terminal the line is rewritten in place; in a log file every step gets its own line.
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%dh%02dm", whole / 3600, whole % 3600 / 60)
            : String(format: "%dm%02ds", whole / 60, whole % 60)
    }
}
