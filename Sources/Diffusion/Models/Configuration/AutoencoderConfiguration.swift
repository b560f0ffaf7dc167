import Foundation

/// A diffusers `AutoencoderKL` config.json (the SD VAE family).
public struct AutoencoderConfiguration: Sendable, Equatable, Decodable {
    public var inChannels: Int
    public var outChannels: Int
    public var latentChannels: Int
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var normGroups: Int
    /// Latents are divided by this after encoding and multiplied before decoding (0.18215 SD1/2, 0.13025 SDXL).
    public var scalingFactor: Float
    public var shiftFactor: Float
    public var useQuantConv: Bool
    public var useMidBlockAttention: Bool

    private enum Key: String, CodingKey {
        case in_channels, out_channels, latent_channels, block_out_channels, layers_per_block, norm_num_groups
        case scaling_factor, shift_factor, use_quant_conv, use_post_quant_conv, mid_block_add_attention, act_fn
        case down_block_types, up_block_types
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        if let activation = try c.decodeIfPresent(String.self, forKey: .act_fn), activation != "silu" {
            throw ModelConfigurationError(file: "", key: "act_fn", problem: "'\(activation)' is not supported by this engine")
        }
        inChannels = try c.decodeIfPresent(Int.self, forKey: .in_channels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .out_channels) ?? 3
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latent_channels) ?? 4
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .block_out_channels) ?? [64]
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layers_per_block) ?? 1
        normGroups = try c.decodeIfPresent(Int.self, forKey: .norm_num_groups) ?? 32
        scalingFactor = Float(try c.decodeIfPresent(Double.self, forKey: .scaling_factor) ?? 0.18215)
        shiftFactor = Float(try c.decodeIfPresent(Double.self, forKey: .shift_factor) ?? 0)
        let quant = try c.decodeIfPresent(Bool.self, forKey: .use_quant_conv) ?? true
        let postQuant = try c.decodeIfPresent(Bool.self, forKey: .use_post_quant_conv) ?? true
        guard quant == postQuant else {
            throw ModelConfigurationError(file: "", key: "use_post_quant_conv", problem: "must equal use_quant_conv in this engine")
        }
        useQuantConv = quant
        useMidBlockAttention = try c.decodeIfPresent(Bool.self, forKey: .mid_block_add_attention) ?? true
        for (key, expected) in [(Key.down_block_types, "DownEncoderBlock2D"), (.up_block_types, "UpDecoderBlock2D")] {
            let types = try c.decodeIfPresent([String].self, forKey: key) ?? Array(repeating: expected, count: blockOutChannels.count)
            guard types.count == blockOutChannels.count, types.allSatisfy({ $0 == expected }) else {
                throw ModelConfigurationError(file: "", key: key.rawValue,
                                              problem: "expected \(blockOutChannels.count) × '\(expected)'")
            }
        }
        guard !blockOutChannels.isEmpty, blockOutChannels.allSatisfy({ $0 % normGroups == 0 }) else {
            throw ModelConfigurationError(file: "", key: "block_out_channels",
                                          problem: "expected channel counts divisible by norm_num_groups (\(normGroups))")
        }
    }

    /// Reads a diffusers `vae/config.json`.
    public static func load(from url: URL) throws -> AutoencoderConfiguration {
        try ConfigurationFile.decode(AutoencoderConfiguration.self, fromFileAt: url)
    }
}
