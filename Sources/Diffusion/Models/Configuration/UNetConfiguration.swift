import Foundation

/// A diffusers `UNet2DConditionModel` config.json, as far as the engine runs it: SD1.x, SD2.x and the SDXL family
/// (SDXL, Pony, Illustrious) and smaller models of the same design. Options the engine cannot run are refused by
/// name instead of being ignored, so a model never loads into the wrong computation.
public struct UNetConfiguration: Sendable, Equatable {
    /// One resolution level of the down or up path.
    public struct Level: Sendable, Equatable {
        public var outChannels: Int
        /// Cross-attention transformers after each resnet (CrossAttn…Block2D) or none (Down/UpBlock2D).
        public var hasAttention: Bool
        /// Transformer blocks in each of this level's transformers.
        public var transformerDepth: Int
        public var attentionHeads: Int
        /// Resnets in this level (`layers_per_block`, one more on the way up).
        public var layers: Int
    }

    public var inChannels: Int
    public var outChannels: Int
    public var sampleSize: Int?
    public var downLevels: [Level]
    /// Up levels in the order diffusers numbers them (`up_blocks.0` is the deepest).
    public var upLevels: [Level]
    public var midTransformerDepth: Int
    public var crossAttentionDim: Int
    public var normGroups: Int
    public var normEpsilon: Float
    public var flipSinToCos: Bool
    public var frequencyShift: Float
    public var downsamplePadding: Int
    /// 1×1 convolutions around each transformer (SD1.x) or linear layers (SD2.x, SDXL).
    public var useLinearProjection: Bool
    /// SD2.1 computes attention scores in fp32 to avoid overflow.
    public var upcastAttention: Bool
    /// SDXL's added conditioning: pooled text and six size/crop ids (`text_time`).
    public var textTimeEmbedding: TextTimeEmbedding?

    public struct TextTimeEmbedding: Sendable, Equatable {
        /// Sinusoidal width of each of the six time ids.
        public var timeIdDimension: Int
        /// Pooled text width plus 6 × `timeIdDimension` (2816 for SDXL).
        public var inputDimension: Int
    }

    /// Channels of the timestep embedding (4 × the first level's channels).
    public var timeEmbeddingDim: Int { downLevels[0].outChannels * 4 }
}

extension UNetConfiguration: Decodable {
    private enum Key: String, CodingKey {
        case in_channels, out_channels, sample_size, down_block_types, up_block_types, mid_block_type
        case block_out_channels, layers_per_block, transformer_layers_per_block, reverse_transformer_layers_per_block
        case attention_head_dim, num_attention_heads, cross_attention_dim, norm_num_groups, norm_eps
        case flip_sin_to_cos, freq_shift, downsample_padding, use_linear_projection, upcast_attention
        case addition_embed_type, addition_time_embed_dim, projection_class_embeddings_input_dim
        case act_fn, class_embed_type, time_embedding_type, dual_cross_attention, only_cross_attention
        case resnet_time_scale_shift, encoder_hid_dim, attention_type, conv_in_kernel, conv_out_kernel
        case center_input_sample, mid_block_scale_factor, time_cond_proj_dim
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func refuse<T: Decodable & Equatable>(_ key: Key, unless allowed: [T], _ type: T.Type) throws {
            guard let value = try c.decodeIfPresent(T.self, forKey: key) else { return }
            guard allowed.contains(value) else {
                throw ModelConfigurationError(file: "", key: key.rawValue, problem: "'\(value)' is not supported by this engine")
            }
        }
        try refuse(.act_fn, unless: ["silu"], String.self)
        try refuse(.time_embedding_type, unless: ["positional"], String.self)
        try refuse(.resnet_time_scale_shift, unless: ["default"], String.self)
        try refuse(.attention_type, unless: ["default"], String.self)
        try refuse(.mid_block_type, unless: ["UNetMidBlock2DCrossAttn"], String.self)
        try refuse(.dual_cross_attention, unless: [false], Bool.self)
        try refuse(.center_input_sample, unless: [false], Bool.self)
        try refuse(.conv_in_kernel, unless: [3], Int.self)
        try refuse(.conv_out_kernel, unless: [3], Int.self)
        try refuse(.mid_block_scale_factor, unless: [1], Double.self)
        for key in [Key.class_embed_type, .encoder_hid_dim, .time_cond_proj_dim, .reverse_transformer_layers_per_block]
        where try c.contains(key) && !c.decodeNil(forKey: key) {
            throw ModelConfigurationError(file: "", key: key.rawValue, problem: "is not supported by this engine (expected null)")
        }
        if let only = try? c.decodeIfPresent(PerLevel<Bool>.self, forKey: .only_cross_attention),
           (only.single ?? false) || (only.list ?? []).contains(true) {
            throw ModelConfigurationError(file: "", key: "only_cross_attention", problem: "is not supported by this engine (expected false)")
        }

        inChannels = try c.decodeIfPresent(Int.self, forKey: .in_channels) ?? 4
        outChannels = try c.decodeIfPresent(Int.self, forKey: .out_channels) ?? 4
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sample_size)
        let downTypes = try c.decodeIfPresent([String].self, forKey: .down_block_types)
            ?? ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        let upTypes = try c.decodeIfPresent([String].self, forKey: .up_block_types)
            ?? ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        let channels = try c.decodeIfPresent([Int].self, forKey: .block_out_channels) ?? [320, 640, 1280, 1280]
        let levels = channels.count
        guard levels > 0, downTypes.count == levels, upTypes.count == levels else {
            throw ModelConfigurationError(file: "", key: "block_out_channels",
                                          problem: "expected as many entries as down_block_types and up_block_types")
        }
        let layers = try (c.decodeIfPresent(PerLevel<Int>.self, forKey: .layers_per_block) ?? PerLevel(2))
            .values(levels: levels, key: "layers_per_block")
        guard Set(layers).count == 1 else {
            throw ModelConfigurationError(file: "", key: "layers_per_block", problem: "per-level values are not supported")
        }
        let depths = try (c.decodeIfPresent(PerLevel<Int>.self, forKey: .transformer_layers_per_block) ?? PerLevel(1))
            .values(levels: levels, key: "transformer_layers_per_block")
        // diffusers' historical naming: `attention_head_dim` holds the number of heads when
        // `num_attention_heads` is absent (every SD config), and the head width is channels / heads.
        let headsOption = try c.decodeIfPresent(PerLevel<Int>.self, forKey: .num_attention_heads)
            ?? c.decodeIfPresent(PerLevel<Int>.self, forKey: .attention_head_dim) ?? PerLevel(8)
        let heads = try headsOption.values(levels: levels, key: "num_attention_heads")
        let crossDims = try (c.decodeIfPresent(PerLevel<Int>.self, forKey: .cross_attention_dim) ?? PerLevel(1280))
            .values(levels: levels, key: "cross_attention_dim")
        guard Set(crossDims).count == 1 else {
            throw ModelConfigurationError(file: "", key: "cross_attention_dim", problem: "per-level values are not supported")
        }
        crossAttentionDim = crossDims[0]

        func hasAttention(_ type: String, plain: String, attention: String, key: String) throws -> Bool {
            switch type {
            case attention: return true
            case plain: return false
            default: throw ModelConfigurationError(file: "", key: key, problem: "block type '\(type)' is not supported by this engine")
            }
        }
        downLevels = try (0..<levels).map { i in
            Level(outChannels: channels[i],
                  hasAttention: try hasAttention(downTypes[i], plain: "DownBlock2D", attention: "CrossAttnDownBlock2D", key: "down_block_types"),
                  transformerDepth: depths[i], attentionHeads: heads[i], layers: layers[0])
        }
        // The up path mirrors the down path: up level i has the channels, heads and depth of down level n-1-i.
        upLevels = try (0..<levels).map { i in
            let mirror = levels - 1 - i
            return Level(outChannels: channels[mirror],
                         hasAttention: try hasAttention(upTypes[i], plain: "UpBlock2D", attention: "CrossAttnUpBlock2D", key: "up_block_types"),
                         transformerDepth: depths[mirror], attentionHeads: heads[mirror], layers: layers[0] + 1)
        }
        midTransformerDepth = depths[levels - 1]
        for level in downLevels where level.outChannels % level.attentionHeads != 0 {
            throw ModelConfigurationError(file: "", key: "attention_head_dim",
                                          problem: "\(level.attentionHeads) heads do not divide \(level.outChannels) channels")
        }
        normGroups = try c.decodeIfPresent(Int.self, forKey: .norm_num_groups) ?? 32
        for width in channels where width % normGroups != 0 {
            throw ModelConfigurationError(file: "", key: "norm_num_groups", problem: "\(normGroups) groups do not divide \(width) channels")
        }
        normEpsilon = Float(try c.decodeIfPresent(Double.self, forKey: .norm_eps) ?? 1e-5)
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flip_sin_to_cos) ?? true
        frequencyShift = Float(try c.decodeIfPresent(Double.self, forKey: .freq_shift) ?? 0)
        downsamplePadding = try c.decodeIfPresent(Int.self, forKey: .downsample_padding) ?? 1
        useLinearProjection = try c.decodeIfPresent(Bool.self, forKey: .use_linear_projection) ?? false
        upcastAttention = try c.decodeIfPresent(Bool.self, forKey: .upcast_attention) ?? false

        switch try c.decodeIfPresent(String.self, forKey: .addition_embed_type) {
        case nil:
            textTimeEmbedding = nil
        case "text_time":
            guard let timeIds = try c.decodeIfPresent(Int.self, forKey: .addition_time_embed_dim),
                  let input = try c.decodeIfPresent(Int.self, forKey: .projection_class_embeddings_input_dim) else {
                throw ModelConfigurationError(file: "", key: "addition_embed_type",
                                              problem: "'text_time' needs addition_time_embed_dim and projection_class_embeddings_input_dim")
            }
            textTimeEmbedding = TextTimeEmbedding(timeIdDimension: timeIds, inputDimension: input)
        case let other?:
            throw ModelConfigurationError(file: "", key: "addition_embed_type", problem: "'\(other)' is not supported by this engine")
        }
    }

    /// Reads a diffusers `unet/config.json`.
    public static func load(from url: URL) throws -> UNetConfiguration {
        try ConfigurationFile.decode(UNetConfiguration.self, fromFileAt: url)
    }
}
