import Diffusion
import Foundation
import Testing
@testable import Membrane

/// The trainer on tiny SD1 and SDXL pipelines: the objective falls on draws it never trained on, and an
/// interrupted run resumed from its checkpoint ends exactly where the uninterrupted run ends.
///
/// Specificity (the target's prediction moves, other prompts' do not) cannot be shown on these random models:
/// their prompt embeddings are 0.8–0.95 cosine-similar and their predictions hardly depend on the prompt, so
/// every prompt moves alike. The testbed model, which has learned its concepts, is where erasure and
/// preservation are measured.
@Suite struct TrainerTests {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Model: Sendable, CustomStringConvertible {
        let folder: String, family: ModelFamily, size: Int, learningRate: Double
        /// The held-out erase loss must fall below this fraction of its start. The tiny SDXL model's prompt
        /// difference runs largely through the pooled embedding (time embedding, outside the membrane's
        /// layers), so less of it can be erased there.
        let lossRatio: Float
        var description: String { family.rawValue }
    }

    static let sd1 = Model(folder: "Fixtures/tiny-sd1", family: .sd1, size: 16, learningRate: 2e-2, lossRatio: 0.2)
    static let sdxl = Model(folder: "DiffusionTests/Golden/pipelines/sdxl", family: .sdxl, size: 32,
                            learningRate: 5e-3, lossRatio: 0.95)

    static func config(_ model: Model, iterations: Int, output: URL? = nil, every: Int = 0) -> TrainingConfig {
        TrainingConfig(
            model: ModelSource(path: tests.appendingPathComponent(model.folder).path, family: model.family),
            // Isotropic anchors: on these random models the vocabulary's prompts are as close to the target as
            // it is to itself, so anchoring them would hold the target still too.
            concepts: [ConceptEntry(target: "a red apple", anchorWeight: 10, anchorsPerStep: 2, anchorSampler: .isotropic)],
            train: TrainingSchedule(iterations: iterations, learningRate: model.learningRate, lrSchedule: .constant,
                                    warmupSteps: 0, denoiseSteps: 8, resolution: model.size, seed: 5),
            save: SaveConfig(output: output?.path ?? "unused", every: every))
    }

    static func load(_ model: Model) throws -> PipelineModels {
        try PipelineModels.load(from: tests.appendingPathComponent(model.folder))
    }

    /// The precision is the process's: a config that asks for another one is refused, naming the field.
    @Test func configPrecisionMustBeTheProcesses() throws {
        var config = Self.config(Self.sd1, iterations: 1)
        config.train.precision = ComputeEnvironment.precision == .fp32 ? .bf16 : .fp32
        #expect(throws: TrainingError.precisionMismatch(config: config.train.precision, process: ComputeEnvironment.precision)) {
            _ = try MembraneTrainer(config: config, models: Self.load(Self.sd1))
        }
        #expect(TrainingError.precisionMismatch(config: .bf16, process: .fp32).description.hasPrefix(
            "train.precision: bf16, but this process computes in fp32"))
    }

    @Test(arguments: [sd1, sdxl])
    func trainingLowersTheObjectiveOnHeldOutDraws(model: Model) throws {
        var trainer = try MembraneTrainer(config: Self.config(model, iterations: 40), models: Self.load(model))
        let heldOut = 10_000..<10_004
        func meanEraseLoss() throws -> Float {
            try heldOut.map { try trainer.evaluate(drawsOf: $0).eraseLoss }.reduce(0, +) / Float(heldOut.count)
        }
        let before = try meanEraseLoss()
        var steps: [MembraneTrainer.StepResult] = []
        while !trainer.isFinished { steps.append(try trainer.step()) }
        let after = try meanEraseLoss()
        #expect(after < model.lossRatio * before, "\(model): held-out erase loss \(before) → \(after)")
        #expect(steps.map(\.step) == Array(1...40))
        #expect(steps.allSatisfy { $0.loss.isFinite && $0.gradientNorm > 0 && (1..<8).contains($0.denoisedSteps) })
    }

    /// A narrow model's step runs as two sample groups: its loss and gradients are those of the method's two
    /// batched calls computed here directly (equal but for float rounding). (That the groups give the same bits
    /// run side by side is `TrainCommandTests`' to show: it changes the process's thread count.)
    @Test func sampleGroupsGiveTheBatchedObjective() throws {
        let models = try Self.load(Self.sd1)
        var config = Self.config(Self.sd1, iterations: 4)
        config.concepts[0].anchorsPerStep = 4
        var trainer = try MembraneTrainer(config: config, models: models)
        _ = try trainer.step()  // a membrane with non-zero factors
        #expect(trainer.sampleGroups(anchors: 4).map(\.anchors) == [0..<1, 1..<4])

        let grouped = try trainer.objective(drawsOf: 1, weights: trainer.state.weights, trajectory: nil,
                                            computingGradients: true)

        // The same step as two batched calls over all its samples.
        let draws = trainer.draws(of: 1)
        var random = draws.random
        let prompts = trainer.concepts[0], entry = config.concepts[0]
        let anchors = trainer.samplers[0].anchors(count: 4, target: prompts.target, random: &random)
        let membraneOn = try models.unet.attaching(trainer.state.weights.adapters(trainable: false).adapters)
        let latents = try #require(try trainer.partialDenoise(
            trainer.initialLatents(draws), keeping: [draws.k], unet: membraneOn, unconditional: prompts.unconditional,
            target: prompts.target, size: draws.size)[draws.k])
        let timestep = Float(trainer.denoising.timesteps[draws.k])
        let frozen = trainer.predict(models.unet, latents: latents, timestep: timestep,
                                     prompts: [prompts.positive, prompts.neutral] + anchors, size: draws.size, gates: nil)
        let (positive, neutral) = (frozen.narrowed(axis: 0, start: 0, length: 1), frozen.narrowed(axis: 0, start: 1, length: 1))
        let (adapters, leaves) = trainer.state.weights.adapters(trainable: true)
        let adapted = trainer.predict(try models.unet.attaching(adapters), latents: latents, timestep: timestep,
                                      prompts: [prompts.target] + anchors, size: draws.size, gates: Array(repeating: 1, count: 5))
        let erase = adapted.narrowed(axis: 0, start: 0, length: 1) - (neutral - (positive - neutral))
        let anchored = adapted.narrowed(axis: 0, start: 1, length: 4) - frozen.narrowed(axis: 0, start: 2, length: 4)
        let loss = (erase * erase).mean() + (anchored * anchored).mean() * Float(entry.anchorWeight)
        let gradients = loss.gradients(withRespectTo: leaves).map { $0.toArray() }

        #expect(abs(grouped.loss - loss.scalarValue) <= 1e-5 * abs(loss.scalarValue))
        let flat = gradients.flatMap { $0 }, groupedFlat = grouped.gradients.flatMap { $0 }
        let largest = flat.map(abs).max() ?? 0
        #expect(largest > 0)
        #expect(zip(flat, groupedFlat).allSatisfy { abs($0 - $1) <= 1e-4 * largest })
    }

    /// Also with shared trajectories (3 steps each), stopped inside the second one: the checkpoint carries the
    /// trajectory the remaining steps of that group use; and with robust training's learned tokens, which the
    /// checkpoint carries to the next step's search.
    @Test(arguments: zip([1, 3, 1], [0, 0, 2]))
    func resumingFromACheckpointEndsWhereTheUninterruptedRunEnds(stepsPerTrajectory: Int, adversarialTokens: Int) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let models = try Self.load(Self.sd1)
        var config = Self.config(Self.sd1, iterations: 6, output: folder, every: 2)
        config.train.lrSchedule = .cosineWithRestarts
        config.train.warmupSteps = 1
        config.train.stepsPerTrajectory = stepsPerTrajectory
        if adversarialTokens > 0 {
            config.train.adversarialSteps = 2
            config.train.adversarialTokens = adversarialTokens
            config.train.adversarialLearningRate = 0.05
        }
        let straight = TrainingOutputs(config: config, membrane: folder.appendingPathComponent("straight.safetensors"))
        var uninterrupted = try MembraneTrainer(config: config, models: models)
        let expected = try #require(try uninterrupted.run(outputs: straight, resume: false))

        let outputs = TrainingOutputs(config: config, membrane: folder.appendingPathComponent("resumed.safetensors"))
        var first = try MembraneTrainer(config: config, models: models)
        #expect(try first.run(outputs: outputs, resume: false, onStep: { result, _ in result.step < 4 }) == nil)
        #expect(first.state.trajectory?.firstStep == (stepsPerTrajectory == 1 ? nil : 3))
        #expect(first.state.adversarialTokens.keys.sorted() == (adversarialTokens == 0 ? [] : [0]))
        var second = try MembraneTrainer(config: config, models: models)
        let resumed = try #require(try second.run(outputs: outputs, resume: true))
        #expect(second.state == uninterrupted.state)
        #expect(resumed.layers == expected.layers)

        // The log holds each step once, in order, although steps 4–6 ran in the second process.
        let lines = try String(contentsOf: outputs.log, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONDecoder().decode(TrainingRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.step) == Array(1...6))
        let straightRecords = try String(contentsOf: straight.log, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(TrainingRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.loss) == straightRecords.map(\.loss))

        // Another config (here: another seed) is refused with a message naming the checkpoint.
        config.train.seed = 6
        var other = try MembraneTrainer(config: config, models: models)
        #expect(throws: TrainingError.self) { try other.run(outputs: outputs, resume: true) }
    }

    /// steps_per_trajectory: 4 steps share one partial denoise, run at the first of them with the membrane as it is
    /// then, from that step's concept, size and x_T, to the deepest k of the four; its first step is the exact
    /// objective's, the others are not.
    @Test func stepsShareOnePartialDenoisePerTrajectory() throws {
        let models = try Self.load(Self.sd1)
        var config = Self.config(Self.sd1, iterations: 8)
        config.concepts.append(ConceptEntry(target: "a green pear", anchorWeight: 10, anchorsPerStep: 2,
                                            anchorSampler: .isotropic))
        var exact = try MembraneTrainer(config: config, models: models)
        config.train.stepsPerTrajectory = 4
        var shared = try MembraneTrainer(config: config, models: models)
        var results: [MembraneTrainer.StepResult] = []
        var exactResults: [MembraneTrainer.StepResult] = []
        var groupStart = shared.state
        for index in 0..<8 {
            if index == 4 { groupStart = shared.state }
            results.append(try shared.step())
            exactResults.append(try exact.step())
        }
        let ks = results.map(\.denoisedSteps)
        #expect(ks == exactResults.map(\.denoisedSteps), "k stays each step's own draw")
        #expect(results.map(\.trajectorySteps) == [ks[0..<4].max()!, 0, 0, 0, ks[4..<8].max()!, 0, 0, 0])
        #expect(results[0].loss == exactResults[0].loss)
        #expect(results[1..<4].contains { $0.loss != exactResults[$0.step - 1].loss })

        let trajectory = try #require(shared.state.trajectory)
        #expect(trajectory.firstStep == 4 && Set(trajectory.latents.keys) == Set(ks[4..<8]))
        // Each x_k again, denoised alone from step 5's draws with the membrane as it was before step 5.
        let first = shared.draws(of: 4)
        let prompts = shared.concepts[first.entryIndex]
        let membraneOn = try models.unet.attaching(groupStart.weights.adapters(trainable: false).adapters)
        // (Trained by then: a zero membrane would make any step's weights give the same x_k.)
        #expect(groupStart.weights.layers.contains { $0.up.contains { $0 != 0 } })
        for (k, latents) in trajectory.latents {
            let alone = try shared.partialDenoise(shared.initialLatents(first), keeping: [k], unet: membraneOn,
                                              unconditional: prompts.unconditional, target: prompts.target, size: 16)
            #expect(alone[k]?.toArray() == latents, "x_\(k)")
        }
    }

    /// A checkpoint whose shared trajectory lacks the x_k a later step of its group needs, or holds latents of
    /// another shape (a file from elsewhere), is refused when that step runs, with a message saying which.
    @Test func aDamagedCheckpointTrajectoryIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-trajectory-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let models = try Self.load(Self.sd1)
        var config = Self.config(Self.sd1, iterations: 4)
        config.train.stepsPerTrajectory = 4
        var trainer = try MembraneTrainer(config: config, models: models)
        _ = try trainer.step()
        var state = trainer.state
        let k = trainer.draws(of: 1).k
        state.trajectory?.latents[k] = nil
        let url = folder.appendingPathComponent("damaged.checkpoint.safetensors")
        try TrainingCheckpoint.write(state, config: config, to: url)
        var resumed = try MembraneTrainer(config: config, models: models)
        try resumed.resume(from: TrainingCheckpoint.read(url, config: config, fresh: resumed.state))
        #expect(resumed.state.trajectory == state.trajectory)
        #expect(throws: TrainingError.checkpointMismatch("its shared trajectory from step 1 has no x_\(k) for step 2")) {
            try resumed.step()
        }

        // Latents of another shape (a smaller image's) are refused too, naming both shapes.
        state = trainer.state
        let side = 8 / models.vae.downscaleFactor
        let shape = [1, models.unet.configuration.inChannels, side, side]
        state.trajectory = SharedTrajectory(firstStep: 0, latents: trainer.state.trajectory!.latents.mapValues { _ in
            [Float](repeating: 0, count: shape.reduce(1, *))
        }, shape: shape)
        try TrainingCheckpoint.write(state, config: config, to: url)
        var reshaped = try MembraneTrainer(config: config, models: models)
        try reshaped.resume(from: TrainingCheckpoint.read(url, config: config, fresh: reshaped.state))
        #expect(throws: TrainingError.checkpointMismatch(
            "its shared trajectory's latents are \(shape), expected \(reshaped.latentShape(size: 16))")) {
            try reshaped.step()
        }
    }

    /// adversarial_steps: each step also erases the conditioning a search finds against the current membrane; the
    /// search has no randomness of its own, so runs repeat exactly (and resume as the plain objective does).
    @Test func robustTrainingTakesAnotherPathAndRepeatsExactly() throws {
        let models = try Self.load(Self.sd1)
        var config = Self.config(Self.sd1, iterations: 4)
        var plain = try MembraneTrainer(config: config, models: models)
        config.train.adversarialSteps = 3
        config.train.adversarialLearningRate = 0.2
        var robust = try MembraneTrainer(config: config, models: models)
        var again = try MembraneTrainer(config: config, models: models)
        for _ in 0..<4 {
            _ = try plain.step()
            let result = try robust.step()
            #expect(result.loss.isFinite && result.gradientNorm > 0)
            _ = try again.step()
        }
        #expect(robust.state == again.state)
        #expect(robust.state.weights != plain.state.weights)
        // Searching and erasing at a gate floor is yet another path.
        config.train.adversarialGate = 0.5
        var floored = try MembraneTrainer(config: config, models: models)
        for _ in 0..<4 { _ = try floored.step() }
        #expect(floored.state.weights != robust.state.weights)
        // So is searching two learned tokens before the target prompt; it repeats too (its start is drawn).
        config.train.adversarialTokens = 2
        config.train.adversarialLearningRate = 0.05
        var tokens = try MembraneTrainer(config: config, models: models)
        var tokensAgain = try MembraneTrainer(config: config, models: models)
        for _ in 0..<4 {
            #expect(try tokens.step().loss.isFinite)
            _ = try tokensAgain.step()
        }
        #expect(tokens.state == tokensAgain.state)
        #expect(tokens.state.weights != floored.state.weights)
    }

    /// Learned tokens go through one text encoder: SDXL's two are refused with a message naming the key.
    @Test func learnedAdversarialTokensOnSDXLAreRefused() throws {
        var config = Self.config(Self.sdxl, iterations: 1)
        config.train.adversarialSteps = 2
        config.train.adversarialTokens = 3
        #expect(throws: TrainingError.learnedTokensNeedOneTextEncoder) {
            _ = try MembraneTrainer(config: config, models: try Self.load(Self.sdxl))
        }
        #expect(TrainingError.learnedTokensNeedOneTextEncoder.description.hasPrefix("train.adversarial_tokens: "))
    }

    /// `anchor_prompts` replace the sampler's pool: every anchor drawn is one of those prompts' embeddings, as the
    /// frozen text encoder gives them (SDXL: pooled part included), and all of them come up.
    @Test(arguments: [sd1, sdxl])
    func anchorPromptsAreTheAnchors(model: Model) throws {
        let models = try Self.load(model)
        var config = Self.config(model, iterations: 1)
        let prompts = ["a blue circle", "a green square", "a yellow star"]
        config.concepts[0].anchorPrompts = prompts
        let trainer = try MembraneTrainer(config: config, models: models)
        let encoded = prompts.map { models.encode(prompt: $0, clipSkip: nil) }
        var random = TrainingRandom(seed: 1, step: 1, stream: 7)
        let anchors = trainer.samplers[0].anchors(count: 60, target: trainer.concepts[0].target, random: &random)
        let drawn = anchors.map { anchor in
            encoded.firstIndex { $0.context.toArray() == anchor.context.toArray()
                && $0.pooled?.toArray() == anchor.pooled?.toArray() }
        }
        #expect(drawn.allSatisfy { $0 != nil }, "\(model): an anchor that is none of the prompts")
        #expect(Set(drawn.compactMap { $0 }) == [0, 1, 2])
    }
}
