import Foundation
import Testing
@testable import Diffusion

@Suite struct ModelConfigurationTests {
    static let bundled = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/Diffusion/Resources/ModelConfigs").standardizedFileURL

    static func unet(_ model: String) throws -> UNetConfiguration {
        try UNetConfiguration.load(from: bundled.appendingPathComponent("\(model)/unet/config.json"))
    }

    /// METHOD.md's membrane sizes: every linear/1×1 layer of every transformer (proj_in, proj_out, and ten per
    /// transformer block) — counted here from the configuration alone.
    static func adaptedLayerCount(_ config: UNetConfiguration) -> Int {
        let down = config.downLevels.filter(\.hasAttention).map { $0.layers * (2 + 10 * $0.transformerDepth) }
        let up = config.upLevels.filter(\.hasAttention).map { $0.layers * (2 + 10 * $0.transformerDepth) }
        return down.reduce(0, +) + up.reduce(0, +) + 2 + 10 * config.midTransformerDepth
    }

    @Test func sd15() throws {
        let config = try Self.unet("sd15")
        #expect(config.downLevels.map(\.outChannels) == [320, 640, 1280, 1280])
        #expect(config.downLevels.map(\.hasAttention) == [true, true, true, false])
        #expect(config.upLevels.map(\.hasAttention) == [false, true, true, true])
        #expect(config.downLevels.map(\.attentionHeads) == [8, 8, 8, 8], "attention_head_dim holds the head count")
        #expect(config.upLevels.map(\.layers) == [3, 3, 3, 3])
        #expect(!config.useLinearProjection && config.textTimeEmbedding == nil && config.crossAttentionDim == 768)
        #expect(config.timeEmbeddingDim == 1280)
        #expect(Self.adaptedLayerCount(config) == 192)
    }

    @Test func sd21() throws {
        let config = try Self.unet("sd21")
        #expect(config.downLevels.map(\.attentionHeads) == [5, 10, 20, 20])
        #expect(config.upLevels.map(\.attentionHeads) == [20, 20, 10, 5])
        #expect(config.useLinearProjection && config.upcastAttention && config.crossAttentionDim == 1024)
        #expect(Self.adaptedLayerCount(config) == 192)
    }

    @Test func sdxl() throws {
        let config = try Self.unet("sdxl")
        #expect(config.downLevels.map(\.hasAttention) == [false, true, true])
        #expect(config.downLevels.map(\.transformerDepth) == [1, 2, 10])
        #expect(config.upLevels.map(\.transformerDepth) == [10, 2, 1])
        #expect(config.midTransformerDepth == 10)
        #expect(config.textTimeEmbedding == .init(timeIdDimension: 256, inputDimension: 2816))
        #expect(Self.adaptedLayerCount(config) == 722)
    }

    /// The derived structure agrees with the tensors diffusers builds from the same config.
    @Test(arguments: ["sd15", "sdxl"])
    func structureMatchesDiffusersKeys(model: String) throws {
        let config = try Self.unet(model)
        let goldenURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/model-keys/\(model).json")
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: goldenURL)) as? [String: Any]
        let keys = Set(((golden?["diffusers"] as? [String: Any])?["unet"] as? [String: Any] ?? [:]).keys)
        for (side, levels) in [("down_blocks", config.downLevels), ("up_blocks", config.upLevels)] {
            for (index, level) in levels.enumerated() {
                let lastResnet = "\(side).\(index).resnets.\(level.layers - 1).conv1.weight"
                #expect(keys.contains(lastResnet) && !keys.contains("\(side).\(index).resnets.\(level.layers).conv1.weight"))
                let block = "\(side).\(index).attentions.0.transformer_blocks"
                #expect(keys.contains("\(block).\(level.transformerDepth - 1).attn2.to_k.weight") == level.hasAttention)
                #expect(!keys.contains("\(block).\(level.transformerDepth).attn2.to_k.weight"))
            }
        }
    }

    @Test func autoencoderAndTextEncoders() throws {
        let vae = try AutoencoderConfiguration.load(from: Self.bundled.appendingPathComponent("sdxl/vae/config.json"))
        #expect(vae.scalingFactor == 0.13025 && vae.blockOutChannels == [128, 256, 512, 512] && vae.latentChannels == 4)
        let clipL = try TextEncoderConfiguration.load(from: Self.bundled.appendingPathComponent("sd15/text_encoder/config.json"))
        #expect(clipL.activation == .quickGELU && clipL.layers == 12 && !clipL.hasProjection)
        let bigG = try TextEncoderConfiguration.load(from: Self.bundled.appendingPathComponent("sdxl/text_encoder_2/config.json"))
        #expect(bigG.activation == .gelu && bigG.hiddenSize == 1280 && bigG.layers == 32 && bigG.hasProjection)
    }

    @Test func unsupportedOrMalformedOptionsAreRefusedByName() throws {
        func error(_ json: String) -> String? {
            do {
                _ = try ConfigurationFile.decode(UNetConfiguration.self, from: Data(json.utf8), file: "unet/config.json")
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(error(#"{"time_embedding_type": "fourier"}"#) == "unet/config.json: time_embedding_type: 'fourier' is not supported by this engine")
        #expect(error(#"{"class_embed_type": "timestep"}"#) == "unet/config.json: class_embed_type: is not supported by this engine (expected null)")
        #expect(error(#"{"class_embed_type": null, "sample_size": 64}"#) == nil)
        #expect(error(#"{"attention_head_dim": [8, 8]}"#) == "unet/config.json: num_attention_heads: expected one value or 4 values (one per level), found 2")
        #expect(error(#"{"in_channels": "four"}"#) == "unet/config.json: in_channels: expected an integer")
        #expect(error(#"{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "norm_num_groups": 32, "attention_head_dim": 3}"#)
                == "unet/config.json: attention_head_dim: 3 heads do not divide 32 channels")
        #expect(error(#"{"down_block_types": ["DownBlock2D", "SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"]}"#)
                == "unet/config.json: down_block_types: block type 'SimpleCrossAttnDownBlock2D' is not supported by this engine")
        #expect(error("[1, 2]")?.hasPrefix("unet/config.json: (top level): ") == true)
    }
}
