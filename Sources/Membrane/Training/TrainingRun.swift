import Diffusion
import Foundation

/// The files of one training run, all in `save.output` unless given: the membrane
/// (`<name>.safetensors`), the checkpoint a run resumes from (`<name>.checkpoint.safetensors`) and the loss log,
/// one JSON `TrainingRecord` per step (`<name>.jsonl`, what the TUI's monitor follows).
public struct TrainingOutputs: Sendable, Equatable {
    public var membrane: URL
    public var checkpoint: URL
    public var log: URL

    /// `membrane` overrides the final file (`--out`); the checkpoint and log sit beside it.
    public init(config: TrainingConfig, membrane: URL? = nil) {
        let final = membrane ?? URL(fileURLWithPath: config.save.output)
            .appendingPathComponent(config.outputName + ".safetensors")
        let stem = final.deletingPathExtension()
        self.membrane = final
        checkpoint = stem.appendingPathExtension("checkpoint.safetensors")
        log = stem.appendingPathExtension("jsonl")
    }
}

/// A checkpoint: the membrane's factors, the optimizer's moments, the step, the shared trajectory in use
/// (`trajectory.x<k>`) and robust training's learned tokens (`adversarial.tokens.<entry>`), with the run's config so a resume under another config is refused. Written atomically,
/// so `kill -9` leaves the previous one whole.
public enum TrainingCheckpoint {
    static let formatKey = "spm.checkpoint.format", stepKey = "spm.checkpoint.step"
    static let optimizerStepKey = "spm.checkpoint.optimizer_step", configKey = "spm.checkpoint.config"
    static let trajectoryStepKey = "spm.checkpoint.trajectory_first_step", trajectoryPrefix = "trajectory.x"
    static let adversarialTokensPrefix = "adversarial.tokens."

    public static func write(_ state: TrainingState, config: TrainingConfig, to url: URL) throws {
        var entries: [SafetensorsEntry] = []
        func add(_ name: String, _ values: [Float], _ shape: [Int]) {
            entries.append(SafetensorsEntry(name: name, floats: values, shape: shape, as: .f32)!)
        }
        let rank = state.weights.rank
        for (index, layer) in state.weights.layers.enumerated() {
            let shapes = [[rank, layer.inFeatures], [layer.outFeatures, rank]]
            for (part, (name, values)) in [("down", layer.down), ("up", layer.up)].enumerated() {
                add("membrane.\(layer.path).\(name)", values, shapes[part])
                if !state.optimizer.firstMoments.isEmpty {
                    add("optimizer.m.\(layer.path).\(name)", state.optimizer.firstMoments[2 * index + part], shapes[part])
                    add("optimizer.v.\(layer.path).\(name)", state.optimizer.secondMoments[2 * index + part], shapes[part])
                }
            }
        }
        var metadata = [formatKey: "1", stepKey: String(state.step), optimizerStepKey: String(state.optimizer.step),
                        configKey: try config.jsonText()]
        if let trajectory = state.trajectory {
            metadata[trajectoryStepKey] = String(trajectory.firstStep)
            for (k, latents) in trajectory.latents.sorted(by: { $0.key < $1.key }) {
                add(trajectoryPrefix + String(k), latents, trajectory.shape)
            }
        }
        for (entry, values) in state.adversarialTokens.sorted(by: { $0.key < $1.key }) {
            let count = config.train.adversarialTokens
            add(adversarialTokensPrefix + String(entry), values, [count, values.count / max(count, 1)])
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SafetensorsWriter.write(entries, metadata: metadata, to: url)
    }

    /// The state saved in `url`, checked against `fresh` (the state a new run of `config` starts from: it
    /// names the layers and shapes to expect).
    public static func read(_ url: URL, config: TrainingConfig, fresh: TrainingState) throws -> TrainingState {
        let file = try WeightFile.open(url)
        func fail(_ reason: String) -> TrainingError { .checkpointMismatch("\(url.path): \(reason)") }
        guard file.metadata[formatKey] == "1", let step = file.metadata[stepKey].flatMap(Int.init),
              let optimizerStep = file.metadata[optimizerStepKey].flatMap(Int.init) else {
            throw fail("not a training checkpoint (no \(stepKey) in its metadata)")
        }
        guard file.metadata[configKey] == (try config.jsonText()) else {
            throw fail("it was made with a different config or flags; run again with the same ones, or delete it to start over")
        }
        var state = fresh
        state.step = step
        state.optimizer.step = optimizerStep
        func floats(_ name: String, count: Int) throws -> [Float] {
            guard file.contains(name) else { throw fail("tensor \(name) is missing") }
            let values = try file.floats(name)
            guard values.count == count else { throw fail("tensor \(name) has \(values.count) values, expected \(count)") }
            return values
        }
        for index in state.weights.layers.indices {
            let layer = state.weights.layers[index]
            for (part, name) in ["down", "up"].enumerated() {
                let count = part == 0 ? layer.down.count : layer.up.count
                let values = try floats("membrane.\(layer.path).\(name)", count: count)
                if part == 0 { state.weights.layers[index].down = values } else { state.weights.layers[index].up = values }
                if !state.optimizer.firstMoments.isEmpty {
                    state.optimizer.firstMoments[2 * index + part] = try floats("optimizer.m.\(layer.path).\(name)", count: count)
                    state.optimizer.secondMoments[2 * index + part] = try floats("optimizer.v.\(layer.path).\(name)", count: count)
                }
            }
        }
        if let firstStep = file.metadata[trajectoryStepKey] {
            guard let firstStep = Int(firstStep), firstStep >= 0, firstStep <= step else {
                throw fail("\(trajectoryStepKey) is \(firstStep), expected a step from 0 to \(step)")
            }
            var trajectory = SharedTrajectory(firstStep: firstStep, latents: [:], shape: [])
            for tensor in file.tensors where tensor.name.hasPrefix(trajectoryPrefix) {
                guard let k = Int(tensor.name.dropFirst(trajectoryPrefix.count)), k > 0,
                      trajectory.shape.isEmpty || trajectory.shape == tensor.shape else {
                    throw fail("tensor \(tensor.name) is not an x_k of the trajectory's shape")
                }
                trajectory.shape = tensor.shape
                trajectory.latents[k] = try floats(tensor.name, count: tensor.shape.reduce(1, *))
            }
            state.trajectory = trajectory
        }
        for tensor in file.tensors where tensor.name.hasPrefix(adversarialTokensPrefix) {
            guard let entry = Int(tensor.name.dropFirst(adversarialTokensPrefix.count)), config.concepts.indices.contains(entry),
                  tensor.shape.count == 2, tensor.shape[0] == config.train.adversarialTokens else {
                throw fail("tensor \(tensor.name) is not the learned tokens of a concept entry ([\(config.train.adversarialTokens), width])")
            }
            state.adversarialTokens[entry] = try floats(tensor.name, count: tensor.shape.reduce(1, *))
        }
        return state
    }
}

extension MembraneTrainer {
    /// A whole run, as `spm-workbench train` and the TUI run it: resumes from the checkpoint when `resume` is set
    /// and one exists, steps to `train.iterations`, appends each step's record to the log, writes a checkpoint
    /// every `save.every` steps and the membrane at the end. `onStep` sees every record and returns false to stop
    /// (the last checkpoint stays, so the run can be resumed). Returns the membrane, or nil when stopped.
    /// `onCheckpoint` gets the membrane's factors each time a checkpoint is written (for previews of the
    /// membrane as it trains).
    public mutating func run(outputs: TrainingOutputs, resume: Bool,
                             onStep: (StepResult, TrainingRecord) -> Bool = { _, _ in true },
                             onCheckpoint: (TrainingState) -> Void = { _ in }) throws -> MembraneFile? {
        if resume, FileManager.default.fileExists(atPath: outputs.checkpoint.path) {
            try self.resume(from: TrainingCheckpoint.read(outputs.checkpoint, config: config, fresh: state))
        }
        let log = try TrainingLogWriter(url: outputs.log, keepingStepsThrough: state.step)
        let started = Date()
        let every = config.save.every
        while !isFinished {
            let result = try step()
            let record = TrainingRecord(step: result.step, loss: Double(result.loss), eraseLoss: Double(result.eraseLoss),
                                        anchorLoss: Double(result.anchorLoss), learningRate: Double(result.learningRate),
                                        totalSteps: config.train.iterations,
                                        elapsedSeconds: Date().timeIntervalSince(started))
            try log.append(record)
            if every > 0, state.step % every == 0, !isFinished {
                try TrainingCheckpoint.write(state, config: config, to: outputs.checkpoint)
                onCheckpoint(state)
            }
            guard onStep(result, record) else {
                try TrainingCheckpoint.write(state, config: config, to: outputs.checkpoint)
                return nil
            }
        }
        let membrane = try membraneFile(title: outputs.membrane.deletingPathExtension().lastPathComponent)
        try FileManager.default.createDirectory(at: outputs.membrane.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try membrane.write(to: outputs.membrane, layout: MembraneLayout(unet: models.unet.configuration))
        return membrane
    }
}

/// Appends records to a run's JSON-lines log. A fresh run starts an empty log; a resumed one keeps the lines of
/// the steps its checkpoint holds and drops later ones (steps that will be run again).
final class TrainingLogWriter {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(url: URL, keepingStepsThrough lastStep: Int) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var kept = Data()
        if lastStep > 0, let existing = try? Data(contentsOf: url) {
            let decoder = JSONDecoder()
            for line in existing.split(separator: UInt8(ascii: "\n")) {
                guard let record = try? decoder.decode(TrainingRecord.self, from: line), record.step <= lastStep else { continue }
                kept.append(line)
                kept.append(UInt8(ascii: "\n"))
            }
        }
        try AtomicFile.write(kept, to: url.path)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        encoder.outputFormatting = .sortedKeys
    }

    deinit { try? handle.close() }

    func append(_ record: TrainingRecord) throws {
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
