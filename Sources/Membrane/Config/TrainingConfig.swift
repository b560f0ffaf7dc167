import Diffusion
import Foundation

/// Everything one membrane training run needs (METHOD.md §1–2). Defaults follow the method and the reference
/// implementation's published settings; `configs/` holds commented examples.
public struct TrainingConfig: YAMLConfigFile, Sendable, Equatable {
    public var model: ModelSource
    /// The concepts one membrane erases; each step samples one entry.
    public var concepts: [ConceptEntry]
    public var network: NetworkConfig
    public var train: TrainingSchedule
    public var save: SaveConfig

    public init(model: ModelSource, concepts: [ConceptEntry], network: NetworkConfig = NetworkConfig(),
                train: TrainingSchedule = TrainingSchedule(), save: SaveConfig = SaveConfig()) {
        self.model = model
        self.concepts = concepts
        self.network = network
        self.train = train
        self.save = save
    }

    enum CodingKeys: String, CodingKey {
        case model, concepts, network, train, save
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(model: try container.decode(ModelSource.self, forKey: .model),
                  concepts: try container.decode([ConceptEntry].self, forKey: .concepts),
                  network: try container.decode(.network, or: NetworkConfig()),
                  train: try container.decode(.train, or: TrainingSchedule()),
                  save: try container.decode(.save, or: SaveConfig()))
    }

    public func validate() throws(ConfigValidationError) {
        try model.validate(under: "model")
        try ConfigRules.check(!concepts.isEmpty, "concepts", "at least one concept is required")
        for (index, concept) in concepts.enumerated() {
            try concept.validate(under: "concepts", "\(index)")
        }
        try network.validate(under: "network")
        try train.validate(under: "train")
        try save.validate(under: "save")
    }

    /// The image sizes training draws from: the config's, or the family's native size.
    public var resolution: TrainingResolution {
        if let range = train.dynamicResolution { return .dynamic(range) }
        return .fixed(train.resolution ?? model.family.nativeResolution)
    }

    /// The config as one line of JSON with sorted keys (membrane files and checkpoints record it).
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The stem of the files training writes: `save.name`, or one made from the first target.
    public var outputName: String {
        if let name = save.name { return name }
        let words = concepts.first.map { $0.target.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) }
        let stem = (words ?? []).joined(separator: "-")
        return stem.isEmpty ? "membrane" : "erase-\(stem)"
    }
}

public enum TrainingResolution: Sendable, Equatable {
    case fixed(Int)
    case dynamic(DynamicResolution)
}

// MARK: - Concepts

/// One concept to erase and how (METHOD.md §2).
public struct ConceptEntry: Codable, Sendable, Equatable, ConfigValidating {
    /// c_t, the prompt whose concept is erased.
    public var target: String
    /// c_p, the prompt whose prediction defines the concept's direction; default: the target.
    public var positive: String
    /// c_n, what the target should become instead; default "" (the unconditional prediction).
    public var neutral: String
    /// The unconditional prompt of the partial denoise's guidance; default "".
    public var unconditional: String
    /// η: how far past the neutral prediction the target is pushed.
    public var eraseGuidance: Double
    /// λ: weight of the latent-anchoring loss that keeps other concepts where they were.
    public var anchorWeight: Double
    /// S: surrogate concepts anchored per step.
    public var anchorsPerStep: Int
    public var anchorSampler: AnchorSamplerChoice
    /// Prompts to keep as the frozen model draws them (e.g. the neighbours of the target: other colours, other
    /// characters). When given, the anchors are drawn from these prompts' embeddings (∝ 1 − cos to the target)
    /// instead of the sampler's.
    public var anchorPrompts: [String]
    /// The lowest gate facilitated transport may give this concept at generation time (1.0: always on).
    public var minGate: Double?
    /// Prompts less similar to this concept than this pass the membrane untouched (gate 0) at generation time; at
    /// or above it the gate is the similarity. For concepts with close but different neighbours (red and orange).
    public var gateThreshold: Double?

    public init(target: String, positive: String? = nil, neutral: String = "", unconditional: String = "",
                eraseGuidance: Double = 1.0, anchorWeight: Double = 1000, anchorsPerStep: Int = 4,
                anchorSampler: AnchorSamplerChoice = .vocabulary, anchorPrompts: [String] = [], minGate: Double? = nil,
                gateThreshold: Double? = nil) {
        self.target = target
        self.positive = positive ?? target
        self.neutral = neutral
        self.unconditional = unconditional
        self.eraseGuidance = eraseGuidance
        self.anchorWeight = anchorWeight
        self.anchorsPerStep = anchorsPerStep
        self.anchorSampler = anchorSampler
        self.anchorPrompts = anchorPrompts
        self.minGate = minGate
        self.gateThreshold = gateThreshold
    }

    enum CodingKeys: String, CodingKey {
        case target, positive, neutral, unconditional
        case eraseGuidance = "erase_guidance"
        case anchorWeight = "anchor_weight"
        case anchorsPerStep = "anchors_per_step"
        case anchorSampler = "anchor_sampler"
        case anchorPrompts = "anchor_prompts"
        case minGate = "min_gate"
        case gateThreshold = "gate_threshold"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let target = try container.decode(String.self, forKey: .target)
        let defaults = ConceptEntry(target: target)
        self.init(target: target,
                  positive: try container.decode(.positive, or: defaults.positive),
                  neutral: try container.decode(.neutral, or: defaults.neutral),
                  unconditional: try container.decode(.unconditional, or: defaults.unconditional),
                  eraseGuidance: try container.decode(.eraseGuidance, or: defaults.eraseGuidance),
                  anchorWeight: try container.decode(.anchorWeight, or: defaults.anchorWeight),
                  anchorsPerStep: try container.decode(.anchorsPerStep, or: defaults.anchorsPerStep),
                  anchorSampler: try container.decode(.anchorSampler, or: defaults.anchorSampler),
                  anchorPrompts: try container.decode(.anchorPrompts, or: defaults.anchorPrompts),
                  minGate: try container.decodeIfPresent(Double.self, forKey: .minGate),
                  gateThreshold: try container.decodeIfPresent(Double.self, forKey: .gateThreshold))
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.nonEmpty(target, "target")
        try ConfigRules.nonEmpty(positive, "positive")
        try ConfigRules.finite(eraseGuidance, "erase_guidance", atLeast: 0)
        try ConfigRules.finite(anchorWeight, "anchor_weight", atLeast: 0)
        try ConfigRules.atLeast(0, anchorsPerStep, "anchors_per_step")
        for prompt in anchorPrompts { try ConfigRules.nonEmpty(prompt, "anchor_prompts") }
        try ConfigRules.gate(minGate, "min_gate")
        try ConfigRules.gate(gateThreshold, "gate_threshold")
    }
}

/// How latent anchoring draws its surrogate concepts (METHOD.md §2).
/// The default is `vocabulary`, by measurement on the testbed: erasing "red" (300 steps, λ = 10), the membrane alone
/// erased it from 100% of the prompts naming it with vocabulary anchors against 52% with isotropic ones, and kept
/// more of the other prompts' attributes (90.1% against 87.2%).
public enum AnchorSamplerChoice: String, Codable, Sendable, CaseIterable {
    /// Gaussian vectors of the embedding's shape scaled to the target's norm: the reference's intent.
    case isotropic
    /// Embeddings of real prompts built from vocabulary words.
    case vocabulary
}

// MARK: - Network

/// The adapter's shape (METHOD.md §1).
public struct NetworkConfig: Codable, Sendable, Equatable, ConfigValidating {
    public var rank: Int
    /// ΔW is scaled by alpha / rank.
    public var alpha: Double
    public var targetLayers: TargetLayerRule

    public init(rank: Int = 1, alpha: Double = 1.0, targetLayers: TargetLayerRule = .transformer) {
        self.rank = rank
        self.alpha = alpha
        self.targetLayers = targetLayers
    }

    enum CodingKeys: String, CodingKey {
        case rank, alpha
        case targetLayers = "target_layers"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = NetworkConfig()
        self.init(rank: try container.decode(.rank, or: defaults.rank),
                  alpha: try container.decode(.alpha, or: defaults.alpha),
                  targetLayers: try container.decode(.targetLayers, or: defaults.targetLayers))
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.atLeast(1, rank, "rank")
        try ConfigRules.positive(alpha, "alpha")
    }
}

/// Which UNet layers carry an adapter.
public enum TargetLayerRule: String, Codable, Sendable, CaseIterable {
    /// Every linear layer and 1×1 convolution inside the UNet's transformer blocks.
    case transformer
}

// MARK: - Optimisation

/// The optimisation loop: iterations, optimizer, schedule, the objective's denoising settings, sizes.
public struct TrainingSchedule: Codable, Sendable, Equatable, ConfigValidating {
    public var iterations: Int
    public var learningRate: Double
    public var optimizer: OptimizerChoice
    public var weightDecay: Double
    public var lrSchedule: LRScheduleChoice
    /// Steps of linear warm-up; nil: `effectiveWarmupSteps` derives it from the iterations, so overriding
    /// the iterations (a command-line flag) keeps the default sensible.
    public var warmupSteps: Int?
    /// Hard restarts of `cosine_with_restarts` (cycles = restarts + 1).
    public var restarts: Int
    /// Largest gradient norm before clipping; nil: no clipping.
    public var gradClip: Double?
    /// K: steps of the DDIM schedule the partial denoise runs on.
    public var denoiseSteps: Int
    /// Classifier-free guidance of the partial denoise.
    public var partialDenoiseGuidance: Double
    public var batchSize: Int
    /// Training image side in pixels; nil (and no `dynamicResolution`): the family's native size.
    public var resolution: Int?
    public var dynamicResolution: DynamicResolution?
    public var precision: ComputePrecision
    /// Recompute each UNet block's activations in the backward pass instead of keeping them: less memory
    /// (about one block's activations), about a third more compute per step.
    public var checkpointActivations: Bool
    /// n consecutive steps share one partial-denoise trajectory (one concept, size and x_T, denoised once to the
    /// deepest k they draw, with the membrane as at the first of them); 1: every step denoises its own (exact).
    public var stepsPerTrajectory: Int
    /// Robust training (in the spirit of AdvUnlearn): each step first looks for a conditioning that brings the
    /// concept back past the current membrane — this many Adam steps from the target's, at
    /// `adversarialLearningRate` — and erases it too. 0: off (the paper's objective).
    public var adversarialSteps: Int
    public var adversarialLearningRate: Double
    /// What the search may change: 0, the whole conditioning the UNet reads (any model); n > 0, n learned input
    /// tokens before the target prompt, through the text encoder — UnlearnDiffAtk's space, what a user can send as
    /// a textual-inversion embedding (models with one text encoder: SD1.x, SD2.x, the testbed).
    public var adversarialTokens: Int
    /// The membrane's gate while the search runs and while c_adv is erased: a gate floor (`min_gate`) the
    /// membrane will be used at, so it holds there too (1: full strength).
    public var adversarialGate: Double
    public var seed: UInt64

    public init(iterations: Int = 3000, learningRate: Double = 1e-4, optimizer: OptimizerChoice = .adamw,
                weightDecay: Double = 0.01, lrSchedule: LRScheduleChoice = .cosineWithRestarts,
                warmupSteps: Int? = nil, restarts: Int = 2, gradClip: Double? = nil, denoiseSteps: Int = 30,
                partialDenoiseGuidance: Double = 3.0, batchSize: Int = 1, resolution: Int? = nil,
                dynamicResolution: DynamicResolution? = nil, precision: ComputePrecision = .fp32,
                checkpointActivations: Bool = false, stepsPerTrajectory: Int = 1, adversarialSteps: Int = 0, adversarialLearningRate: Double = 0.1,
                adversarialTokens: Int = 0, adversarialGate: Double = 1,
                seed: UInt64 = 0) {
        self.iterations = iterations
        self.learningRate = learningRate
        self.optimizer = optimizer
        self.weightDecay = weightDecay
        self.lrSchedule = lrSchedule
        self.warmupSteps = warmupSteps
        self.restarts = restarts
        self.gradClip = gradClip
        self.denoiseSteps = denoiseSteps
        self.partialDenoiseGuidance = partialDenoiseGuidance
        self.batchSize = batchSize
        self.resolution = resolution
        self.dynamicResolution = dynamicResolution
        self.precision = precision
        self.checkpointActivations = checkpointActivations
        self.stepsPerTrajectory = stepsPerTrajectory
        self.adversarialSteps = adversarialSteps
        self.adversarialLearningRate = adversarialLearningRate
        self.adversarialTokens = adversarialTokens
        self.adversarialGate = adversarialGate
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case iterations
        case learningRate = "learning_rate"
        case optimizer
        case weightDecay = "weight_decay"
        case lrSchedule = "lr_schedule"
        case warmupSteps = "warmup_steps"
        case restarts
        case gradClip = "grad_clip"
        case denoiseSteps = "denoise_steps"
        case partialDenoiseGuidance = "partial_denoise_guidance"
        case batchSize = "batch_size"
        case resolution
        case dynamicResolution = "dynamic_resolution"
        case precision
        case checkpointActivations = "checkpoint_activations"
        case stepsPerTrajectory = "steps_per_trajectory"
        case adversarialSteps = "adversarial_steps"
        case adversarialLearningRate = "adversarial_learning_rate"
        case adversarialTokens = "adversarial_tokens"
        case adversarialGate = "adversarial_gate"
        case seed
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingSchedule()
        self.init(iterations: try container.decode(.iterations, or: defaults.iterations),
                  learningRate: try container.decode(.learningRate, or: defaults.learningRate),
                  optimizer: try container.decode(.optimizer, or: defaults.optimizer),
                  weightDecay: try container.decode(.weightDecay, or: defaults.weightDecay),
                  lrSchedule: try container.decode(.lrSchedule, or: defaults.lrSchedule),
                  warmupSteps: try container.decodeIfPresent(Int.self, forKey: .warmupSteps),
                  restarts: try container.decode(.restarts, or: defaults.restarts),
                  gradClip: try container.decodeIfPresent(Double.self, forKey: .gradClip),
                  denoiseSteps: try container.decode(.denoiseSteps, or: defaults.denoiseSteps),
                  partialDenoiseGuidance: try container.decode(.partialDenoiseGuidance,
                                                               or: defaults.partialDenoiseGuidance),
                  batchSize: try container.decode(.batchSize, or: defaults.batchSize),
                  resolution: try container.decodeIfPresent(Int.self, forKey: .resolution),
                  dynamicResolution: try container.decodeIfPresent(DynamicResolution.self,
                                                                   forKey: .dynamicResolution),
                  precision: try container.decode(.precision, or: defaults.precision),
                  checkpointActivations: try container.decode(.checkpointActivations, or: defaults.checkpointActivations),
                  stepsPerTrajectory: try container.decode(.stepsPerTrajectory, or: defaults.stepsPerTrajectory),
                  adversarialSteps: try container.decode(.adversarialSteps, or: defaults.adversarialSteps),
                  adversarialLearningRate: try container.decode(.adversarialLearningRate, or: defaults.adversarialLearningRate),
                  adversarialTokens: try container.decode(.adversarialTokens, or: defaults.adversarialTokens),
                  adversarialGate: try container.decode(.adversarialGate, or: defaults.adversarialGate),
                  seed: try container.decode(.seed, or: defaults.seed))
    }

    /// The warm-up the run uses: the configured one, or a sixth of the iterations, at most 500 (the
    /// reference warms up 500 of 3000 steps).
    public var effectiveWarmupSteps: Int {
        warmupSteps ?? max(0, min(500, iterations / 6))
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.atLeast(1, iterations, "iterations")
        try ConfigRules.positive(learningRate, "learning_rate")
        try ConfigRules.finite(weightDecay, "weight_decay", atLeast: 0)
        if let warmupSteps {
            try ConfigRules.atLeast(0, warmupSteps, "warmup_steps")
            try ConfigRules.check(warmupSteps < iterations, "warmup_steps",
                                  "must be less than iterations (\(iterations)), found \(warmupSteps)")
        }
        try ConfigRules.atLeast(0, restarts, "restarts")
        if let gradClip { try ConfigRules.positive(gradClip, "grad_clip") }
        // k is drawn from 1…K−1, so K needs at least two steps.
        try ConfigRules.atLeast(2, denoiseSteps, "denoise_steps")
        try ConfigRules.finite(partialDenoiseGuidance, "partial_denoise_guidance", atLeast: 0)
        try ConfigRules.atLeast(1, batchSize, "batch_size")
        try ConfigRules.atLeast(1, stepsPerTrajectory, "steps_per_trajectory")
        try ConfigRules.atLeast(0, adversarialSteps, "adversarial_steps")
        try ConfigRules.positive(adversarialLearningRate, "adversarial_learning_rate")
        try ConfigRules.atLeast(0, adversarialTokens, "adversarial_tokens")
        try ConfigRules.check(adversarialTokens < CLIPTokenizer.chunkLength, "adversarial_tokens",
                              "must leave the prompt some of the \(CLIPTokenizer.chunkLength) tokens, found \(adversarialTokens)")
        try ConfigRules.positive(adversarialGate, "adversarial_gate")
        if let resolution { try ConfigRules.imageSide(resolution, "resolution") }
        if let dynamicResolution {
            try ConfigRules.check(resolution == nil, "dynamic_resolution",
                                  "give either resolution or dynamic_resolution, not both")
            try dynamicResolution.validate(under: "dynamic_resolution")
        }
    }
}

public enum OptimizerChoice: String, Codable, Sendable, CaseIterable {
    case adamw, adam, sgd
}

public enum LRScheduleChoice: String, Codable, Sendable, CaseIterable {
    case constant, cosine
    case cosineWithRestarts = "cosine_with_restarts"
}

/// Each step trains at a random size from `min` to `max` in `step` increments (the reference's buckets).
public struct DynamicResolution: Codable, Sendable, Equatable, ConfigValidating {
    public var min: Int
    public var max: Int
    public var step: Int

    public init(min: Int, max: Int, step: Int = 64) {
        self.min = min
        self.max = max
        self.step = step
    }

    enum CodingKeys: String, CodingKey {
        case min, max, step
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(min: try container.decode(Int.self, forKey: .min),
                  max: try container.decode(Int.self, forKey: .max),
                  step: try container.decode(.step, or: 64))
    }

    /// The sizes a step may draw, smallest first.
    public var sizes: [Int] { Array(stride(from: min, through: max, by: step)) }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.imageSide(min, "min")
        try ConfigRules.imageSide(max, "max")
        try ConfigRules.check(max >= min, "max", "must be at least min (\(min)), found \(max)")
        try ConfigRules.check(step >= 8 && step % 8 == 0, "step", "must be a positive multiple of 8, found \(step)")
    }
}

// MARK: - Saving

/// Where and how often training writes files.
public struct SaveConfig: Codable, Sendable, Equatable, ConfigValidating {
    /// The folder that receives checkpoints and the final membrane.
    public var output: String
    /// Steps between checkpoints; 0: only the final file.
    public var every: Int
    /// File stem; nil: made from the first concept's target (`TrainingConfig.outputName`).
    public var name: String?

    public init(output: String = "output", every: Int = 500, name: String? = nil) {
        self.output = output
        self.every = every
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case output, every, name
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SaveConfig()
        self.init(output: try container.decode(.output, or: defaults.output),
                  every: try container.decode(.every, or: defaults.every),
                  name: try container.decodeIfPresent(String.self, forKey: .name))
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.nonEmpty(output, "output")
        try ConfigRules.atLeast(0, every, "every")
        if let name {
            try ConfigRules.nonEmpty(name, "name")
            try ConfigRules.check(!name.contains("/"), "name", "must be a file name without '/', found '\(name)'")
        }
    }
}
