import Foundation

/// A transformers `CLIPVisionModel` / `CLIPVisionModelWithProjection` config.json, or a `CLIPModel`'s
/// `vision_config`.
public struct VisionEncoderConfiguration: Sendable, Equatable, Decodable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var attentionHeads: Int
    public var layers: Int
    /// The side of the square input the position embeddings were trained for (pixels).
    public var imageSize: Int
    /// The side of one patch: the patch convolution's kernel and stride.
    public var patchSize: Int
    public var channels: Int
    public var activation: TextEncoderConfiguration.Activation
    public var layerNormEpsilon: Float
    public var projectionDim: Int
    /// Whether the checkpoint carries `visual_projection` (`CLIPVisionModelWithProjection`, every `CLIPModel`).
    public var hasProjection: Bool

    /// Patches along one side of the input.
    public var gridSize: Int { imageSize / patchSize }
    /// Tokens the encoder sees: the class token, then one per patch.
    public var tokens: Int { 1 + gridSize * gridSize }

    private enum Key: String, CodingKey {
        case hidden_size, intermediate_size, num_attention_heads, num_hidden_layers, image_size, patch_size
        case num_channels, hidden_act, layer_norm_eps, projection_dim, architectures
    }

    /// Defaults are transformers' `CLIPVisionConfig` defaults (ViT-B/32).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hidden_size) ?? 768
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediate_size) ?? 3072
        attentionHeads = try c.decodeIfPresent(Int.self, forKey: .num_attention_heads) ?? 12
        layers = try c.decodeIfPresent(Int.self, forKey: .num_hidden_layers) ?? 12
        imageSize = try c.decodeIfPresent(Int.self, forKey: .image_size) ?? 224
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patch_size) ?? 32
        channels = try c.decodeIfPresent(Int.self, forKey: .num_channels) ?? 3
        activation = try c.decodeIfPresent(TextEncoderConfiguration.Activation.self, forKey: .hidden_act) ?? .quickGELU
        layerNormEpsilon = Float(try c.decodeIfPresent(Double.self, forKey: .layer_norm_eps) ?? 1e-5)
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projection_dim) ?? 512
        let architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? ["CLIPVisionModel"]
        hasProjection = architectures.contains("CLIPVisionModelWithProjection")
        guard hiddenSize % attentionHeads == 0 else {
            throw ModelConfigurationError(file: "", key: "num_attention_heads",
                                          problem: "\(attentionHeads) heads do not divide hidden_size \(hiddenSize)")
        }
        guard patchSize > 0, imageSize >= patchSize else {
            throw ModelConfigurationError(file: "", key: "patch_size",
                                          problem: "patch_size \(patchSize) does not fit image_size \(imageSize)")
        }
    }

    /// Reads a transformers vision model's `config.json`.
    public static func load(from url: URL) throws -> VisionEncoderConfiguration {
        try ConfigurationFile.decode(VisionEncoderConfiguration.self, fromFileAt: url)
    }
}
