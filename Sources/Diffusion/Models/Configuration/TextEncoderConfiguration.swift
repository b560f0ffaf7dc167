import Foundation

/// A transformers `CLIPTextModel` / `CLIPTextModelWithProjection` config.json.
public struct TextEncoderConfiguration: Sendable, Equatable, Decodable {
    public enum Activation: String, Sendable, Decodable {
        /// OpenAI CLIP ViT-L/14 (SD1.x, SDXL's first encoder): x · sigmoid(1.702 x).
        case quickGELU = "quick_gelu"
        /// OpenCLIP ViT-H and bigG (SD2.x, SDXL's second encoder): the erf GELU.
        case gelu
    }

    public var hiddenSize: Int
    public var intermediateSize: Int
    public var attentionHeads: Int
    public var layers: Int
    public var maxPositions: Int
    public var vocabularySize: Int
    public var activation: Activation
    public var layerNormEpsilon: Float
    public var projectionDim: Int
    /// Whether the checkpoint carries `text_projection` (SDXL's second encoder: the pooled embedding).
    public var hasProjection: Bool

    private enum Key: String, CodingKey {
        case hidden_size, intermediate_size, num_attention_heads, num_hidden_layers, max_position_embeddings
        case vocab_size, hidden_act, layer_norm_eps, projection_dim, architectures
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hidden_size) ?? 512
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediate_size) ?? 2048
        attentionHeads = try c.decodeIfPresent(Int.self, forKey: .num_attention_heads) ?? 8
        layers = try c.decodeIfPresent(Int.self, forKey: .num_hidden_layers) ?? 12
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .max_position_embeddings) ?? 77
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocab_size) ?? 49408
        activation = try c.decodeIfPresent(Activation.self, forKey: .hidden_act) ?? .quickGELU
        layerNormEpsilon = Float(try c.decodeIfPresent(Double.self, forKey: .layer_norm_eps) ?? 1e-5)
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projection_dim) ?? 512
        let architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? ["CLIPTextModel"]
        hasProjection = architectures.contains("CLIPTextModelWithProjection")
        guard hiddenSize % attentionHeads == 0 else {
            throw ModelConfigurationError(file: "", key: "num_attention_heads",
                                          problem: "\(attentionHeads) heads do not divide hidden_size \(hiddenSize)")
        }
    }

    /// Reads a transformers `text_encoder/config.json`.
    public static func load(from url: URL) throws -> TextEncoderConfiguration {
        try ConfigurationFile.decode(TextEncoderConfiguration.self, fromFileAt: url)
    }
}
