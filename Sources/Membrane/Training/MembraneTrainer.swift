import Diffusion
import Foundation

/// Trains one membrane with the SPM objective (METHOD.md §2), one step at a time:
/// 1. draw a concept entry, a size, k ∈ 1…K−1 and x_T; run k DDIM steps with the membrane on, no gradient,
///    classifier-free guidance on [unconditional, target] → x_k;
/// 2. query every prediction at the timestep x_k really has (the reference queried 33–42 steps noisier);
/// 3. ONE frozen batched call over [positive, neutral, anchors];
/// 4. ONE call with the membrane on and gradients over [target, anchors];
/// 5. loss = MSE(ε′_t, ε_n − η(ε_p − ε_n)) + λ·MSE(ε′_a, ε_a); backward into the membrane's factors only.
/// With `adversarial_steps` (robust training, after AdvUnlearn), step 4 first searches for a conditioning c_adv
/// (`adversarial_tokens` learned tokens before the target prompt, or the whole conditioning) with which the
/// membrane-on model predicts ε_p again, and erases it too: ε′ over [target, c_adv, anchors].
/// With `steps_per_trajectory` n > 1, step 1 runs once per n steps (`SharedTrajectory`): an approximation that
/// trades fresh trajectories for speed. Text embeddings of the config's prompts are computed once (the text
/// encoders are frozen, so this is exact).
public struct MembraneTrainer: Sendable {
    public let config: TrainingConfig
    public private(set) var state: TrainingState
    let models: PipelineModels
    /// Text-encoder layers skipped (the config's clip_skip counts from the end with 1 = the last layer).
    let clipSkip: Int?
    let concepts: [ConceptConditioning]
    let samplers: [AnchorSampler]
    let denoising: any NoiseSchedule
    let learningRates: LearningRateSchedule
    /// The image sides training draws from (one unless the config asks for dynamic resolution).
    public let sizes: [Int]
    /// Runs a step's sample groups (and its partial denoise's guided pairs) at once, one thread each, when the
    /// model's layers are narrow (`sampleGroups`). The numbers are the same either way, but while they run the
    /// process-wide thread count is shared out (`ComputeEnvironment.sharingThreads`), which other work in the
    /// process would see: for commands that run nothing beside the training (`train`, `spm-bench`).
    public var runsSampleGroupsSideBySide = false

    struct ConceptConditioning: Sendable {
        let target, positive, neutral, unconditional: PromptConditioning
    }

    /// Checks that `config` can run on `models` and prepares the text conditionings and anchor pools; the
    /// membrane starts fresh (see `resume(from:)`).
    public init(config: TrainingConfig, models: PipelineModels) throws {
        try config.validate()
        let family = config.model.family
        guard family.isSDXLArchitecture == (models.architecture == .sdxl) else {
            throw TrainingError.familyMismatch(family: family, architecture: models.architecture)
        }
        // The precision is the process's (the engine's layers read it); a command sets it from the config before
        // anything runs, so a difference here means a workbench started at the other one.
        guard config.train.precision == ComputeEnvironment.precision else {
            throw TrainingError.precisionMismatch(config: config.train.precision, process: ComputeEnvironment.precision)
        }
        let sizes: [Int]
        switch config.resolution {
        case .fixed(let size): sizes = [size]
        case .dynamic(let range): sizes = range.sizes
        }
        for size in sizes where size % models.sizeMultiple != 0 {
            throw TrainingError.resolution(size: size, multiple: models.sizeMultiple)
        }
        if config.train.adversarialSteps > 0 && config.train.adversarialTokens > 0 && models.textEncoder2 != nil {
            throw TrainingError.learnedTokensNeedOneTextEncoder
        }
        self.config = config
        self.models = models
        self.sizes = sizes
        let clipSkip = config.model.clipSkip.map { $0 - 1 }
        self.clipSkip = clipSkip
        concepts = config.concepts.map { entry in
            ConceptConditioning(target: models.encode(prompt: entry.target, clipSkip: clipSkip),
                                positive: models.encode(prompt: entry.positive, clipSkip: clipSkip),
                                neutral: models.encode(prompt: entry.neutral, clipSkip: clipSkip),
                                unconditional: models.encode(prompt: entry.unconditional, clipSkip: clipSkip))
        }
        let needsVocabulary = config.concepts.contains {
            $0.anchorSampler == .vocabulary && $0.anchorPrompts.isEmpty && $0.anchorsPerStep > 0
        }
        let vocabulary = needsVocabulary
            ? AnchorSampler.vocabulary(models: models, seed: config.train.seed, clipSkip: clipSkip) : nil
        samplers = config.concepts.map { entry in
            if !entry.anchorPrompts.isEmpty {
                return .prompts(pool: entry.anchorPrompts.map { models.encode(prompt: $0, clipSkip: clipSkip) })
            }
            return entry.anchorSampler == .vocabulary ? vocabulary ?? .isotropic : .isotropic
        }
        denoising = try makeNoiseSchedule(.ddim, config: models.scheduler, steps: config.train.denoiseSteps)
        let schedule = config.train
        learningRates = LearningRateSchedule(base: Float(schedule.learningRate), kind: schedule.lrSchedule,
                                             warmupSteps: schedule.effectiveWarmupSteps, totalSteps: schedule.iterations,
                                             restarts: schedule.restarts)
        let weights = MembraneWeights(unet: models.unet, rank: config.network.rank, alpha: Float(config.network.alpha),
                                      seed: config.train.seed)
        state = TrainingState(step: 0, weights: weights,
                              optimizer: Optimizer(kind: schedule.optimizer, weightDecay: Float(schedule.weightDecay),
                                                   parameters: weights.parameters),
                              trajectory: nil)
    }

    /// Continues from a checkpoint's state (it must come from the same config: see `TrainingCheckpoint`).
    public mutating func resume(from saved: TrainingState) throws {
        guard saved.weights.layers.map(\.path) == state.weights.layers.map(\.path),
              saved.weights.rank == state.weights.rank else {
            throw TrainingError.checkpointMismatch("its membrane layers or rank differ from this model and config")
        }
        state = saved
    }

    public var isFinished: Bool { state.step >= config.train.iterations }

    /// The losses of one step, before the update it caused.
    public struct StepResult: Sendable, Equatable {
        public var step: Int
        public var loss: Float
        public var eraseLoss: Float
        public var anchorLoss: Float
        public var learningRate: Float
        public var gradientNorm: Float
        /// The partial-denoise depth k and the image side drawn for the step.
        public var denoisedSteps: Int
        /// The DDIM steps this step ran: k, or with shared trajectories the group's deepest k at its first step
        /// and 0 at the others.
        public var trajectorySteps: Int
        public var size: Int
    }

    /// Runs training step `state.step + 1` and updates the membrane.
    public mutating func step() throws -> StepResult {
        let stepIndex = state.step
        let sharing = config.train.stepsPerTrajectory
        var trajectorySteps = 0
        if sharing > 1 {
            let firstStep = stepIndex - stepIndex % sharing
            if state.trajectory?.firstStep != firstStep {
                let trajectory = try sharedTrajectory(from: firstStep)
                trajectorySteps = trajectory.latents.keys.max() ?? 0
                state.trajectory = trajectory
            }
        }
        let objective = try objective(drawsOf: stepIndex, weights: state.weights, trajectory: state.trajectory,
                                      computingGradients: true)
        if let found = objective.adversarialTokens { state.adversarialTokens[found.entry] = found.values }
        var gradients = objective.gradients
        let gradientNorm = clipGradientNorm(&gradients, maximum: config.train.gradClip.map { Float($0) } ?? .infinity)
        let learningRate = learningRates.rate(at: stepIndex)
        var parameters = state.weights.parameters
        state.optimizer.update(&parameters, gradients: gradients, learningRate: learningRate)
        state.weights.parameters = parameters
        state.step += 1
        return StepResult(step: state.step, loss: objective.loss, eraseLoss: objective.eraseLoss,
                          anchorLoss: objective.anchorLoss, learningRate: learningRate, gradientNorm: gradientNorm,
                          denoisedSteps: objective.denoisedSteps,
                          trajectorySteps: state.trajectory == nil ? objective.denoisedSteps : trajectorySteps,
                          size: objective.size)
    }

    /// The objective with the draws of step `stepIndex` (concept, size, k, noise, anchors) and the current
    /// membrane, without updating anything: for measuring progress on fixed draws (always with the step's own,
    /// freshly denoised latents).
    public func evaluate(drawsOf stepIndex: Int) throws -> (loss: Float, eraseLoss: Float, anchorLoss: Float) {
        let objective = try objective(drawsOf: stepIndex, weights: state.weights, trajectory: nil,
                                      computingGradients: false)
        return (objective.loss, objective.eraseLoss, objective.anchorLoss)
    }

    struct Objective {
        /// erase + λ·anchor, and its gradients with respect to the membrane's factors (none when not asked for).
        let loss: Float
        let gradients: [[Float]]
        let eraseLoss: Float, anchorLoss: Float
        let denoisedSteps: Int, size: Int
        /// The learned tokens robust training's search ended at, for the next step of the same concept entry.
        var adversarialTokens: (entry: Int, values: [Float])?
    }

    /// What step `stepIndex` draws first, in this order: the concept entry, the image side, k and the seed of x_T.
    /// `random` continues from there (the anchors).
    struct StepDraws {
        let entryIndex: Int, size: Int, k: Int, noiseSeed: UInt64
        var random: TrainingRandom
    }

    func draws(of stepIndex: Int) -> StepDraws {
        var random = TrainingRandom(seed: config.train.seed, step: stepIndex)
        let entryIndex = Int(random.next() % UInt64(concepts.count))
        let size = sizes[Int(random.next() % UInt64(sizes.count))]
        let k = 1 + Int(random.next() % UInt64(denoising.stepCount - 1))
        return StepDraws(entryIndex: entryIndex, size: size, k: k, noiseSeed: random.next(), random: random)
    }

    /// The latents' shape at image side `size`.
    func latentShape(size: Int) -> [Int] {
        let side = size / models.vae.downscaleFactor
        return [config.train.batchSize, models.unet.configuration.inChannels, side, side]
    }

    /// x_T for `draws`, scaled to the schedule's first step.
    func initialLatents(_ draws: StepDraws) -> Tensor {
        TrainingRandom.gaussian(latentShape(size: draws.size), seed: draws.noiseSeed) * Float(denoising.initNoiseSigma)
    }

    /// The trajectory steps `firstStep` … `firstStep + n − 1` share: their group's first step's concept, size
    /// and x_T, denoised once with the membrane as it is now to the deepest k the group drew, keeping x_k for
    /// each k drawn.
    func sharedTrajectory(from firstStep: Int) throws -> SharedTrajectory {
        let group = draws(of: firstStep)
        let steps = firstStep..<min(firstStep + config.train.stepsPerTrajectory, config.train.iterations)
        let depths = Set(steps.map { draws(of: $0).k })
        let prompts = concepts[group.entryIndex]
        let membraneOn = try models.unet.attaching(state.weights.adapters(trainable: false).adapters)
        let start = initialLatents(group)
        let kept = try partialDenoise(start, keeping: depths, unet: membraneOn,
                                      unconditional: prompts.unconditional, target: prompts.target, size: group.size)
        return SharedTrajectory(firstStep: firstStep, latents: kept.mapValues { $0.toArray() }, shape: start.shape)
    }

    /// Steps 1–5 of the method for the draws of step `stepIndex`; with a `trajectory`, its group's concept,
    /// size and x_k replace the step's own (k and the anchors stay the step's).
    func objective(drawsOf stepIndex: Int, weights: MembraneWeights, trajectory: SharedTrajectory?,
                   computingGradients: Bool) throws -> Objective {
        var own = draws(of: stepIndex)
        let shared = trajectory.map { draws(of: $0.firstStep) } ?? own
        let entry = config.concepts[shared.entryIndex], prompts = concepts[shared.entryIndex]
        let size = shared.size, k = own.k
        let batch = config.train.batchSize
        let anchors = samplers[shared.entryIndex].anchors(count: entry.anchorsPerStep, target: prompts.target,
                                                          random: &own.random)

        let membraneOn = try models.unet.attaching(weights.adapters(trainable: false).adapters)
        let latents: Tensor
        if let trajectory {
            // Only a checkpoint from elsewhere can lack it or hold another shape: the trainer keeps every k its
            // group draws, at the group's size.
            guard let values = trajectory.latents[k] else {
                throw TrainingError.checkpointMismatch(
                    "its shared trajectory from step \(trajectory.firstStep + 1) has no x_\(k) for step \(stepIndex + 1)")
            }
            guard trajectory.shape == latentShape(size: size) else {
                throw TrainingError.checkpointMismatch(
                    "its shared trajectory's latents are \(trajectory.shape), expected \(latentShape(size: size))")
            }
            latents = Tensor(values, shape: trajectory.shape)
        } else {
            latents = try partialDenoise(initialLatents(own), keeping: [k], unet: membraneOn,
                                         unconditional: prompts.unconditional, target: prompts.target, size: size)[k]!
        }
        let timestep = Float(denoising.timesteps[k])

        let searchStart = try learnedTokensStart(entryIndex: shared.entryIndex, random: &own.random)
        let (adapters, leaves) = weights.adapters(trainable: computingGradients)
        var trainedModel = try models.unet.attaching(adapters)
        trainedModel.checkpointsActivations = config.train.checkpointActivations
        let trained = trainedModel  // a constant, for the groups' closure
        // The anchor term is a mean over every anchor sample's elements, whichever group computed it.
        let anchorElements = Float(max(1, anchors.count * latents.elementCount))
        let groups = sampleGroups(anchors: anchors.count)
        let terms = try sideBySide(groups) { group -> GroupTerms in
            let groupAnchors = Array(anchors[group.anchors])
            // Frozen model, no gradient: ε_p and ε_n (in the erasing group) and the group's anchors' ε_a, in one call.
            let frozen = predict(models.unet, latents: latents, timestep: timestep,
                                 prompts: (group.erases ? [prompts.positive, prompts.neutral] : []) + groupAnchors,
                                 size: size, gates: nil)
            var erased: [PromptConditioning] = []
            var gates: [Float] = []
            var eraseTarget: Tensor?
            var adversarialTokens: (entry: Int, values: [Float])?
            if group.erases {
                let positive = frozen.narrowed(axis: 0, start: 0, length: batch)
                let neutral = frozen.narrowed(axis: 0, start: batch, length: batch)
                eraseTarget = neutral - (positive - neutral) * Float(entry.eraseGuidance)
                erased = [prompts.target]
                gates = [1]
                if let found = adversarialConditioning(
                    for: entry, prompts: prompts, membraneOn: membraneOn, latents: latents, timestep: timestep,
                    size: size, positive: positive, start: searchStart) {
                    erased.append(found.conditioning)
                    gates.append(Float(config.train.adversarialGate))
                    adversarialTokens = found.tokens.map { (shared.entryIndex, $0) }
                }
            }
            // Membrane on, with gradients: ε′ for the erased conditionings and the group's anchors in one call.
            let adapted = predict(trained, latents: latents, timestep: timestep, prompts: erased + groupAnchors,
                                  size: size, gates: gates + Array(repeating: 1, count: groupAnchors.count))
            let erasedCount = erased.count * batch
            var loss = Tensor.zeros([])
            var eraseLoss: Float = 0
            if let eraseTarget {
                let difference = adapted.narrowed(axis: 0, start: 0, length: erasedCount)
                    - Tensor.concat(Array(repeating: eraseTarget, count: erased.count), axis: 0)
                let term = (difference * difference).mean()
                eraseLoss = term.scalarValue
                loss = term
            }
            var anchorSquares: Float = 0
            if !groupAnchors.isEmpty {
                let count = groupAnchors.count * batch
                let difference = adapted.narrowed(axis: 0, start: erasedCount, length: count)
                    - frozen.narrowed(axis: 0, start: frozen.shape[0] - count, length: count)
                let squares = (difference * difference).sum()
                anchorSquares = squares.scalarValue
                loss = loss + squares * (Float(entry.anchorWeight) / anchorElements)
            }
            return GroupTerms(
                loss: loss.scalarValue, eraseLoss: eraseLoss, anchorSquares: anchorSquares,
                gradients: computingGradients ? loss.gradients(withRespectTo: leaves).map { $0.toArray() } : [],
                adversarialTokens: adversarialTokens)
        }
        // Gradients add up group by group, in group order (the same bits whether the groups ran side by side).
        var gradients = terms[0].gradients
        for group in terms.dropFirst() {
            for index in gradients.indices {
                gradients[index] = zip(gradients[index], group.gradients[index]).map(+)
            }
        }
        return Objective(loss: terms.map(\.loss).reduce(0, +), gradients: gradients,
                         eraseLoss: terms[0].eraseLoss,
                         anchorLoss: terms.map(\.anchorSquares).reduce(0, +) / anchorElements,
                         denoisedSteps: k, size: size, adversarialTokens: terms[0].adversarialTokens)
    }

    /// The samples of a step that one thread computes together: the erasing group holds ε_p, ε_n and the
    /// erased conditionings, and the first of the anchors; the other group the rest of the anchors.
    struct SampleGroup: Sendable {
        let anchors: Range<Int>
        let erases: Bool
    }

    /// What one group contributes: its part of the loss (the erase term, and its anchors' share of the anchor
    /// term), that part's gradients, and its anchors' summed squared differences.
    struct GroupTerms: Sendable {
        let loss: Float, eraseLoss: Float, anchorSquares: Float
        let gradients: [[Float]]
        let adversarialTokens: (entry: Int, values: [Float])?
    }

    /// The step's sample groups for `anchors` anchors. A model whose layers are narrow (first block under
    /// 128 channels, `hasNarrowLayers`: the testbed and the tiny models) computes a step as two groups, side by
    /// side on one thread each when there are two (`ComputeEnvironment.sharingThreads`): its single ops are too
    /// small for two threads to share (`runsSampleGroupsSideBySide`). The split depends on the model only, so a
    /// run's numbers do not depend on the thread count or on whether the groups ran at once. Robust training keeps
    /// one group (its search needs ε_p first and outweighs the rest).
    /// The erasing group gets ⌊(4S − 5)/8⌋ of the S anchors: a sample with gradients costs about three frozen
    /// ones, so that balances 2 + a frozen and 1 + a trained samples against S − a of each.
    func sampleGroups(anchors: Int) -> [SampleGroup] {
        guard hasNarrowLayers && config.train.adversarialSteps == 0 && anchors > 0 else {
            return [SampleGroup(anchors: 0..<anchors, erases: true)]
        }
        let withErasing = max(0, (4 * anchors - 5) / 8)
        return [SampleGroup(anchors: 0..<withErasing, erases: true),
                SampleGroup(anchors: withErasing..<anchors, erases: false)]
    }

    /// Whether the model's first block is under 128 channels wide: its steps then run as two sample groups, and
    /// the guided pairs of its partial denoise as two calls (see `sampleGroups`).
    var hasNarrowLayers: Bool { (models.unet.configuration.downLevels.first?.outChannels ?? 0) < 128 }

    /// `parts` transformed side by side when `runsSampleGroupsSideBySide`, else one after another.
    func sideBySide<Part: Sendable, Result: Sendable>(_ parts: [Part],
                                                      _ transform: @Sendable (Part) throws -> Result) throws -> [Result] {
        runsSampleGroupsSideBySide ? try ComputeEnvironment.sharingThreads(among: parts, transform) : try parts.map(transform)
    }

    /// Where robust training's learned tokens start for a step of entry `entryIndex`: where the entry's last search
    /// stopped, or vocabulary tokens drawn from `random` (after the anchors). nil without learned tokens.
    func learnedTokensStart(entryIndex: Int, random: inout TrainingRandom) throws -> Tensor? {
        guard config.train.adversarialSteps > 0 && config.train.adversarialTokens > 0 else { return nil }
        let count = config.train.adversarialTokens, width = models.textEncoder.configuration.hiddenSize
        guard let carried = state.adversarialTokens[entryIndex] else {
            return models.textEncoder.vocabularyVectors(count: count) { random.next() }
        }
        guard carried.count == count * width else {
            throw TrainingError.checkpointMismatch(
                "its adversarial tokens have \(carried.count) values, expected \(count) × \(width)")
        }
        return Tensor(carried, shape: [count, width])
    }

    /// Robust training's conditioning for the step (nil without `adversarial_steps`): the one that brings ε_p back
    /// past the membrane as it is now — learned tokens before the target prompt from `start`, or the whole
    /// conditioning — with the tokens found, to carry to the entry's next step.
    func adversarialConditioning(for entry: ConceptEntry, prompts: ConceptConditioning, membraneOn: UNet2DConditionModel,
                                 latents: Tensor, timestep: Float, size: Int, positive: Tensor,
                                 start: Tensor?) -> (conditioning: PromptConditioning, tokens: [Float]?)? {
        guard config.train.adversarialSteps > 0 else { return nil }
        let search = ConditioningSearch(iterations: config.train.adversarialSteps,
                                        learningRate: Float(config.train.adversarialLearningRate))
        let gate = Float(config.train.adversarialGate)
        func gap(_ conditioning: PromptConditioning) -> Tensor {
            let recovered = predict(membraneOn, latents: latents, timestep: timestep, prompts: [conditioning],
                                    size: size, gates: [gate])
            let difference = recovered - positive
            return (difference * difference).mean()
        }
        if let start {
            func conditioning(_ tokens: Tensor) -> PromptConditioning {
                models.encode(prompt: entry.target, prefixedWith: tokens, clipSkip: clipSkip)
            }
            let tokens = search.run(from: start) { gap(conditioning($0)) }
            return (PromptConditioning(context: conditioning(tokens).context.detached(), pooled: nil), tokens.toArray())
        }
        let found = search.run(from: prompts.target.context) {
            gap(PromptConditioning(context: $0, pooled: prompts.target.pooled))
        }
        return (PromptConditioning(context: found, pooled: prompts.target.pooled), nil)
    }

    /// DDIM steps from `latents` with the membrane on (no gradient) to the deepest of `depths`, returning x_k for
    /// each k in `depths`; guided on [unconditional, target] — or on the target alone when the guidance is 1, where
    /// the unconditional branch cancels out.
    func partialDenoise(_ latents: Tensor, keeping depths: Set<Int>, unet: UNet2DConditionModel,
                        unconditional: PromptConditioning, target: PromptConditioning, size: Int) throws -> [Int: Tensor] {
        let guidance = Float(config.train.partialDenoiseGuidance)
        let guided = guidance != 1
        let batch = latents.shape[0]
        var latents = latents
        var kept: [Int: Tensor] = [:]
        for step in 0..<(depths.max() ?? 0) {
            let input = latents * Float(denoising.modelInputScale(step: step))
            let timestep = Float(denoising.timesteps[step])
            // One prediction per prompt: with narrow layers the guided pair's halves side by side (see
            // `sampleGroups`), else one batched call.
            let prompts = guided ? [unconditional, target] : [target]
            let outputs: [Tensor]
            if guided && hasNarrowLayers {
                outputs = try sideBySide(prompts) { prompt in
                    predict(unet, latents: input, timestep: timestep, prompts: [prompt], size: size, gates: [1])
                }
            } else {
                let batched = predict(unet, latents: input, timestep: timestep, prompts: prompts, size: size,
                                      gates: Array(repeating: 1, count: prompts.count))
                outputs = prompts.indices.map { batched.narrowed(axis: 0, start: $0 * batch, length: batch) }
            }
            let output = guided ? outputs[0] + (outputs[1] - outputs[0]) * guidance : outputs[0]
            // DDIM with η = 0 never asks for noise.
            latents = denoising.advance(latents, output: output, step: step, previousDenoised: nil) {
                Tensor.zeros(latents.shape)
            }.latents
            if depths.contains(step + 1) { kept[step + 1] = latents }
        }
        return kept
    }

    /// The UNet's predictions for every prompt × every latent, in one batched call (prompt-major order:
    /// prompt 0 for all latents, then prompt 1 …). `gates`: the attached membrane's gate for each prompt's samples
    /// (nil: off).
    func predict(_ unet: UNet2DConditionModel, latents: Tensor, timestep: Float, prompts: [PromptConditioning],
                 size: Int, gates: [Float]?) -> Tensor {
        let batch = latents.shape[0]
        let count = prompts.count * batch
        func repeated(_ tensor: Tensor) -> Tensor {
            Tensor.concat(Array(repeating: tensor, count: batch), axis: 0)
        }
        let context = Tensor.concat(prompts.map { repeated($0.context) }, axis: 0)
        let sample = Tensor.concat(Array(repeating: latents, count: prompts.count), axis: 0)
        let added = prompts.first?.pooled == nil ? nil : UNet2DConditionModel.AddedConditions(
            pooledText: Tensor.concat(prompts.map { repeated($0.pooled!) }, axis: 0),
            // (original size, crop top-left, target size) of a plain square image, as generation uses.
            timeIDs: Tensor(Array(repeating: [Float(size), Float(size), 0, 0, Float(size), Float(size)], count: count)
                .flatMap { $0 }, shape: [count, 6]))
        return unet(sample, timesteps: Array(repeating: timestep, count: count), context: context, added: added,
                    gates: gates.map { gates in
                        precondition(gates.count == prompts.count, "predict: one gate per prompt")
                        return Tensor(gates.flatMap { Array(repeating: $0, count: batch) }, shape: [count, 1])
                    })
    }

    /// The membrane as trained so far, in the file format of FORMATS.md.
    public func membraneFile(title: String) throws -> MembraneFile {
        state.weights.membraneFile(family: config.model.family, concepts: config.concepts, title: title,
                                   trainingConfig: try config.jsonText())
    }
}

/// Everything a run needs to continue exactly: the steps done, the membrane, the optimizer and the shared
/// trajectory in use (random draws are a function of the step: `TrainingRandom`).
public struct TrainingState: Sendable, Equatable {
    public var step: Int
    public var weights: MembraneWeights
    public var optimizer: Optimizer
    public var trajectory: SharedTrajectory?
    /// Robust training's learned tokens by concept entry ([n × width] values): each step's search starts where the
    /// last one for that entry stopped, so the adversary keeps getting stronger over the run instead of starting
    /// over from vocabulary tokens every step (AdvUnlearn likewise keeps its attack prompt).
    public var adversarialTokens: [Int: [Float]] = [:]
}

/// One partial-denoise trajectory serving the `train.steps_per_trajectory` steps from `firstStep` on: x_k for
/// each k they drew, denoised with the membrane as it was at `firstStep` (so later steps of the group see
/// latents up to n − 1 updates old, and n steps see one concept, size and x_T).
public struct SharedTrajectory: Sendable, Equatable {
    public var firstStep: Int
    /// x_k by k, each of `shape` ([batch, channels, side, side]).
    public var latents: [Int: [Float]]
    public var shape: [Int]
}

public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case familyMismatch(family: ModelFamily, architecture: CheckpointArchitecture)
    case precisionMismatch(config: ComputePrecision, process: ComputePrecision)
    case resolution(size: Int, multiple: Int)
    case checkpointMismatch(String)
    case learnedTokensNeedOneTextEncoder
    case cancelled

    public var description: String {
        switch self {
        case .familyMismatch(let family, let architecture):
            return "model.family: \(family.rawValue) expects \(family.isSDXLArchitecture ? "an SDXL" : "an SD1/SD2")-layout model, the model is \(architecture.rawValue)"
        case .precisionMismatch(let config, let process):
            return "train.precision: \(config.rawValue), but this process computes in \(process.rawValue) "
                + "(start the workbench with --precision \(config.rawValue), or set train.precision: \(process.rawValue))"
        case .resolution(let size, let multiple):
            return "train.resolution: \(size) px must be a multiple of \(multiple) for this model"
        case .checkpointMismatch(let reason):
            return "checkpoint: cannot resume, \(reason)"
        case .learnedTokensNeedOneTextEncoder:
            return "train.adversarial_tokens: learned tokens need a model with one text encoder (SD1.x, SD2.x); "
                + "set it to 0 to search SDXL's conditioning"
        case .cancelled:
            return "training cancelled"
        }
    }
}
