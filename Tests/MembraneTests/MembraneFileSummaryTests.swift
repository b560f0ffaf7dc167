import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct MembraneFileSummaryTests {
    /// A rank-`rank` layer: down [r, in] (or [r, in, 1, 1]), up [out, r], and optionally an alpha scalar.
    private func layer(_ name: String, in inFeatures: Int, out outFeatures: Int, rank: Int = 1,
                       conv: Bool = false, alpha: Float? = 1) -> [SafetensorsEntry] {
        let downShape = conv ? [rank, inFeatures, 1, 1] : [rank, inFeatures]
        let upShape = conv ? [outFeatures, rank, 1, 1] : [outFeatures, rank]
        var entries = [
            SafetensorsEntry(name: name + ".lora_down.weight", floats: [Float](repeating: 0.5, count: rank * inFeatures), shape: downShape, as: .f32)!,
            SafetensorsEntry(name: name + ".lora_up.weight", floats: [Float](repeating: 0.1, count: rank * outFeatures), shape: upShape, as: .f16)!,
        ]
        if let alpha { entries.append(SafetensorsEntry(name: name + ".alpha", floats: [alpha], shape: [], as: .bf16)!) }
        return entries
    }

    private func summary(_ entries: [SafetensorsEntry], metadata: [String: String] = [:]) throws -> MembraneFileSummary? {
        let file = try SafetensorsFile(bytes: try SafetensorsWriter.serialize(entries, metadata: metadata), name: "lora")
        return try MembraneFileSummary.detect(in: file)
    }

    @Test func countsRanksAlphasAndParameters() throws {
        let entries = layer("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", in: 320, out: 320, rank: 4, alpha: 2)
            + layer("lora_unet_mid_block_attentions_0_proj_in", in: 1280, out: 1280, rank: 1, conv: true, alpha: nil)
            + layer("lora_te_text_model_encoder_layers_0_self_attn_q_proj", in: 768, out: 768, rank: 4, alpha: 4)
        let result = try #require(try summary(entries))
        #expect(result.layerCount == 3)
        #expect(result.unetLayerCount == 2)
        #expect(result.textEncoderLayerCount == 1)
        #expect(result.ranks == [1, 4])
        #expect(result.alphas == [1, 2, 4])  // the layer without alpha counts as α = r = 1
        #expect(result.parameterCount == 4 * 320 * 2 + 1280 * 2 + 4 * 768 * 2)
        #expect(result.naming == .diffusers)
        #expect(result.incompleteLayers.isEmpty && result.otherTensorNames.isEmpty)
    }

    @Test func familyComesFromMetadataFirst() throws {
        let entries = layer("lora_unet_down_blocks_0_attentions_0_proj_in", in: 320, out: 320, conv: true)
        #expect(try summary(entries, metadata: ["ss_base_model_version": "sdxl_base_v1-0"])?.family == .sdxl)
        #expect(try summary(entries, metadata: ["ss_base_model_version": "sd_v2"])?.family == .sd2)
        #expect(try summary(entries, metadata: ["modelspec.architecture": "stable-diffusion-xl-v1-base/lora"])?.family == .sdxl)
        #expect(try summary(entries, metadata: ["membrane.family": "\"pony\"", "ss_base_model_version": "sdxl_base_v1-0"])?.family == .pony)
        let fromShape = try #require(try summary(entries))
        #expect(fromShape.family == .sd1)
        #expect(fromShape.familyEvidence.contains("4-D"))
    }

    @Test func familyFromKeyNamesAndShapes() throws {
        let sgm = layer("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", in: 640, out: 640)
            + layer("lora_unet_middle_block_1_proj_in", in: 1280, out: 1280)
        let sgmSummary = try #require(try summary(sgm))
        #expect(sgmSummary.naming == .sgm)
        #expect(sgmSummary.family == .sdxl)

        let crossAttention768 = layer("lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", in: 768, out: 640)
        #expect(try summary(crossAttention768)?.family == .sd1)
        let crossAttention2048 = layer("lora_unet_up_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", in: 2048, out: 1280)
        #expect(try summary(crossAttention2048)?.family == .sdxl)

        let sd2 = layer("lora_unet_down_blocks_0_attentions_0_proj_in", in: 320, out: 320)
        #expect(try summary(sd2)?.family == .sd2)
        let sdxlDiffusers = layer("lora_unet_down_blocks_1_attentions_0_proj_in", in: 640, out: 640)
        #expect(try summary(sdxlDiffusers)?.family == .sdxl)

        let textOnly = try #require(try summary(layer("lora_te1_text_model_encoder_layers_0_mlp_fc1", in: 8, out: 8)))
        #expect(textOnly.naming == .textEncoderOnly)
        #expect(textOnly.family == nil)
        #expect(try summary(layer("lora_te2_text_model_encoder_layers_0_mlp_fc1", in: 8, out: 8))?.family == .sdxl)
    }

    @Test func conceptsFromOurMetadataOrTheResearchCode() throws {
        let entries = layer("lora_unet_down_blocks_0_attentions_0_proj_in", in: 8, out: 8, conv: true)
        let ours = try #require(try summary(entries, metadata: ["membrane.concepts": #"["Van Gogh", {"target": "cat, fluffy"}]"#]))
        #expect(ours.concepts == ["Van Gogh", "cat, fluffy"])
        #expect(ours.conceptsSource == "membrane.concepts")
        let research = try #require(try summary(entries, metadata: ["prompts": "Van Gogh, Picasso,", "rank": "1", "alpha": "1.0"]))
        #expect(research.concepts == ["Van Gogh", "Picasso"])
        #expect(research.conceptsSource == "prompts")
        #expect(try summary(entries)?.concepts == [])
    }

    @Test func reportsIncompleteLayersAndForeignKeysAndIgnoresOtherFiles() throws {
        var entries = layer("lora_unet_mid_block_attentions_0_proj_out", in: 8, out: 8, conv: true)
        entries.append(SafetensorsEntry(name: "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", dtype: .f32, shape: [1, 2], bytes: [UInt8](repeating: 0, count: 8)))
        entries.append(SafetensorsEntry(name: "unet.mid_block.lora_A.weight", dtype: .f32, shape: [1], bytes: [0, 0, 0, 0]))
        let result = try #require(try summary(entries))
        #expect(result.incompleteLayers == ["lora_unet_mid_block_attentions_0_proj_in"])
        #expect(result.otherTensorNames == ["unet.mid_block.lora_A.weight"])

        let model = [SafetensorsEntry(name: "conv_in.weight", dtype: .f32, shape: [1], bytes: [0, 0, 0, 0])]
        #expect(try summary(model) == nil)
    }

    @Test func tinyFixturesAreRecognised() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
        let kohya = try #require(try MembraneFileSummary.detect(in: WeightFile.open(fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors"))))
        #expect(kohya.layerCount == 40 && kohya.ranks == [1] && kohya.alphas == [1])
        #expect(kohya.family == .sd1 && kohya.familyEvidence == "ss_base_model_version=sd_v1")
        let research = try #require(try MembraneFileSummary.detect(in: WeightFile.open(fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors"))))
        #expect(research.concepts == ["Van Gogh", "Picasso"])
        #expect(research.family == .sd1)
    }
}
