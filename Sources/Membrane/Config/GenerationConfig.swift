import Diffusion

/// A text-to-image run with membranes attached (METHOD.md §3).
public struct GenerationConfig: YAMLConfigFile, Sendable, Equatable {
    public var model: ModelSource
    /// Each prompt is generated with the same settings; the batch can mix prompts with different gates.
    public var prompts: [String]
    public var negativePrompt: String
    public var steps: Int
    /// Classifier-free guidance scale.
    public var guidance: Double
    /// Image size in pixels; nil: the family's native size.
    public var width: Int?
    public var height: Int?
    public var seed: UInt64
    public var scheduler: SchedulerChoice
    /// Karras sigma spacing (Euler, Euler ancestral and DPM++ 2M only).
    public var karras: Bool
    public var membranes: [MembraneUse]
    public var transport: TransportConfig
    public var precision: ComputePrecision

    public init(model: ModelSource, prompts: [String], negativePrompt: String = "", steps: Int = 30,
                guidance: Double = 7.5, width: Int? = nil, height: Int? = nil, seed: UInt64 = 0,
                scheduler: SchedulerChoice = .ddim, karras: Bool = false, membranes: [MembraneUse] = [],
                transport: TransportConfig = TransportConfig(), precision: ComputePrecision = .fp32) {
        self.model = model
        self.prompts = prompts
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.seed = seed
        self.scheduler = scheduler
        self.karras = karras
        self.membranes = membranes
        self.transport = transport
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey {
        case model, prompts
        case negativePrompt = "negative_prompt"
        case steps, guidance, width, height, seed, scheduler, karras, membranes, transport, precision
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let model = try container.decode(ModelSource.self, forKey: .model)
        let prompts = try container.decode([String].self, forKey: .prompts)
        let defaults = GenerationConfig(model: model, prompts: prompts)
        self.init(model: model, prompts: prompts,
                  negativePrompt: try container.decode(.negativePrompt, or: defaults.negativePrompt),
                  steps: try container.decode(.steps, or: defaults.steps),
                  guidance: try container.decode(.guidance, or: defaults.guidance),
                  width: try container.decodeIfPresent(Int.self, forKey: .width),
                  height: try container.decodeIfPresent(Int.self, forKey: .height),
                  seed: try container.decode(.seed, or: defaults.seed),
                  scheduler: try container.decode(.scheduler, or: defaults.scheduler),
                  karras: try container.decode(.karras, or: defaults.karras),
                  membranes: try container.decode(.membranes, or: defaults.membranes),
                  transport: try container.decode(.transport, or: defaults.transport),
                  precision: try container.decode(.precision, or: defaults.precision))
    }

    public func validate() throws(ConfigValidationError) {
        try model.validate(under: "model")
        try ConfigRules.check(!prompts.isEmpty, "prompts", "at least one prompt is required")
        try ConfigRules.check((1...1000).contains(steps), "steps", "must be from 1 to 1000, found \(steps)")
        try ConfigRules.finite(guidance, "guidance", atLeast: 0)
        if let width { try ConfigRules.imageSide(width, "width") }
        if let height { try ConfigRules.imageSide(height, "height") }
        try ConfigRules.check(!karras || scheduler != .ddim, "karras",
                              "Karras sigmas need euler, euler-a or dpmpp-2m, not ddim")
        for (index, membrane) in membranes.enumerated() {
            try membrane.validate(under: "membranes", "\(index)")
        }
    }

    /// Width and height in pixels, the family's native size where the config gives none.
    public var imageSize: (width: Int, height: Int) {
        (width ?? model.family.nativeResolution, height ?? model.family.nativeResolution)
    }
}

public enum SchedulerChoice: String, Codable, Sendable, CaseIterable {
    case ddim, euler
    case eulerAncestral = "euler-a"
    case dpmpp2m = "dpmpp-2m"
}

/// One membrane file attached for generation.
public struct MembraneUse: Codable, Sendable, Equatable, ConfigValidating {
    public var path: String
    /// Multiplies the membrane's ΔW (1: as trained; negative values invert it).
    public var weight: Double
    /// Lowest gate facilitated transport may give; nil: the file's own (or none).
    public var minGate: Double?

    public init(path: String, weight: Double = 1.0, minGate: Double? = nil) {
        self.path = path
        self.weight = weight
        self.minGate = minGate
    }

    enum CodingKeys: String, CodingKey {
        case path, weight
        case minGate = "min_gate"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try container.decode(String.self, forKey: .path),
                  weight: try container.decode(.weight, or: 1.0),
                  minGate: try container.decodeIfPresent(Double.self, forKey: .minGate))
    }

    public func validate() throws(ConfigValidationError) {
        try ConfigRules.nonEmpty(path, "path")
        try ConfigRules.check(weight.isFinite, "weight", "must be a finite number, found \(weight)")
        try ConfigRules.gate(minGate, "min_gate")
    }
}

/// Facilitated transport: per prompt, each membrane's strength is gated by how close the prompt is to its
/// concepts. Off: every membrane acts at its full weight on every prompt, like a plain LoRA.
public struct TransportConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var similarity: GateSimilarity

    public init(enabled: Bool = true, similarity: GateSimilarity = .embeddings) {
        self.enabled = enabled
        self.similarity = similarity
    }

    enum CodingKeys: String, CodingKey {
        case enabled, similarity
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TransportConfig()
        self.init(enabled: try container.decode(.enabled, or: defaults.enabled),
                  similarity: try container.decode(.similarity, or: defaults.similarity))
    }
}

/// How a prompt's closeness to an erased concept is measured for its gate (Sources/Membrane/Transport). Which one
/// is the default is decided by measurement on the testbed (erasure on target prompts vs damage on others).
public enum GateSimilarity: String, Codable, Sendable, CaseIterable {
    /// Like `tokens`, but matching the tokens' vocabulary vectors (the text encoder's input embedding rows) instead
    /// of their output states: a small encoder's output states are all alike (on the testbed every pair is
    /// ≈ 0.95-cosine), while the input rows of words the model learned alike (red, crimson, scarlet: 0.96–0.97)
    /// stand apart from the rest (blue: −0.12). Context-free, so "not red" still matches red. The default, by
    /// measurement on the testbed with the demo's membrane erasing red (21 prompts naming it, 40 others; no
    /// gate_threshold): erasure 100%, preservation 92.2%, pixel drift 0.034 — against reference 81.0%, 90.1%, 0.030
    /// and tokens 100%, 90.1%, 0.095.
    case embeddings
    /// The reference's max(cosine of the 77-token CLIP embeddings, share of the concept's tokens in the prompt).
    case reference
    /// max(share of the concept's tokens in the prompt, soft token match): each of the concept's tokens is matched
    /// to its most similar prompt token (cosine of their text-encoder states), averaged over the concept's tokens.
    /// BOS, EOS and padding positions take no part, so unrelated prompts are not pulled towards 1.
    case tokens
}

extension TransportConfig {
    /// `--transport` values: a similarity's name, or `off` (every membrane at its full weight on every prompt).
    public static var commandLineChoices: [String] { GateSimilarity.allCases.map(\.rawValue) + ["off"] }

    /// The `--transport` value that gives this config.
    public var commandLineName: String { enabled ? similarity.rawValue : "off" }

    /// The config for a `--transport` value; nil for an unknown one.
    public init?(commandLine value: String) {
        if value == "off" {
            self.init(enabled: false)
        } else if let similarity = GateSimilarity(rawValue: value) {
            self.init(enabled: true, similarity: similarity)
        } else {
            return nil
        }
    }
}
