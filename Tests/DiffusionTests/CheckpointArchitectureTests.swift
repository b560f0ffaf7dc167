import Foundation
import Testing
@testable import Diffusion

@Suite struct CheckpointArchitectureTests {
    static func singleFileKeys(_ model: String) throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/model-keys/\(model).json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        return Set((object?["single_file"] as? [String: Any] ?? [:]).keys)
    }

    @Test func detectsRealKeySets() throws {
        let sd15 = try Self.singleFileKeys("sd15")
        let sdxl = try Self.singleFileKeys("sdxl")
        #expect(CheckpointArchitecture.detect(singleFileKeys: sd15) == .sd1)
        #expect(CheckpointArchitecture.detect(singleFileKeys: sdxl) == .sdxl)
        // SD2.x: SD1's UNet key layout with OpenCLIP's text tower.
        let sd2 = sd15.filter { !$0.hasPrefix("cond_stage_model.") }.union(["cond_stage_model.model.token_embedding.weight"])
        #expect(CheckpointArchitecture.detect(singleFileKeys: sd2) == .sd2)
        #expect(CheckpointArchitecture.detect(singleFileKeys: ["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"]) == nil)
        #expect(CheckpointArchitecture.declaredPrediction(singleFileKeys: sdxl.union(["v_pred"])) == .vPrediction)
        // sd-mecha lists the optional marker tensors too; a plain SDXL file has none of them.
        #expect(CheckpointArchitecture.declaredPrediction(singleFileKeys: sdxl.filter { !$0.hasPrefix("v_pred") }) == nil)
    }
}
