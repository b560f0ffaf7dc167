import Foundation
import Testing
@testable import Membrane

/// kohya names against the real SD1.5 and SDXL key sets (sd-mecha's kohya model configs, via
/// tools/golden_model_keys.py): the modules an SPM adapts, named as kohya names them, with their real shapes.
@Suite struct LoRANamingTests {
    struct Golden {
        var diffusersUNet: [String: [Int]]
        var kohyaUNet: [String: [Int]]

        init(_ model: String) throws {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../DiffusionTests/Golden/model-keys/\(model).json")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
            diffusersUNet = (object?["diffusers"] as? [String: Any])?["unet"] as? [String: [Int]] ?? [:]
            kohyaUNet = object?["kohya_unet"] as? [String: [Int]] ?? [:]
        }
    }

    /// METHOD.md's default targets: every linear and 1×1 conv inside the transformers.
    static func isTransformerLinear(_ path: String) -> Bool {
        let suffixes = [".proj_in", ".proj_out", ".attn1.to_q", ".attn1.to_k", ".attn1.to_v", ".attn1.to_out.0",
                        ".attn2.to_q", ".attn2.to_k", ".attn2.to_v", ".attn2.to_out.0", ".ff.net.0.proj", ".ff.net.2"]
        return path.contains("attentions.") && suffixes.contains(where: path.hasSuffix)
    }

    static func modules(_ golden: Golden) -> [String] {
        golden.diffusersUNet.keys.filter { $0.hasSuffix(".weight") }.map { String($0.dropLast(".weight".count)) }
            .filter(isTransformerLinear).sorted()
    }

    @Test(arguments: [("sd15", 192, false, 0), ("sdxl", 722, true, 2)])
    func namesAndShapesMatchKohyasOwn(model: String, count: Int, sgm: Bool, plainUpLevel: Int) throws {
        let golden = try Golden(model)
        let modules = Self.modules(golden)
        #expect(modules.count == count)
        let kohyaNames = Dictionary(uniqueKeysWithValues: golden.kohyaUNet.compactMap { key, shape in
            key.hasSuffix(".weight") ? (LoRANaming.unetPrefix + key.dropLast(".weight".count).replacingOccurrences(of: ".", with: "_"), shape) : nil
        })
        let index = LoRANaming.Index(unetModules: modules) { $0 != plainUpLevel }
        for path in modules {
            let name = try #require(LoRANaming.kohyaName(unetModule: path, sgmPaths: sgm) { $0 != plainUpLevel })
            #expect(kohyaNames[name] == golden.diffusersUNet[path + ".weight"], "\(model): \(path) → \(name)")
            #expect(index.module(forKohyaName: name) == path)
            // Files in the other naming (the research code's diffusers-path SDXL files) read too.
            let other = try #require(LoRANaming.kohyaName(unetModule: path, sgmPaths: !sgm) { $0 != plainUpLevel })
            #expect(index.module(forKohyaName: other) == path)
        }
        #expect(index.module(forKohyaName: "lora_unet_not_a_module") == nil)
    }

    @Test func sd1ProjectionsAreConvolutionsAndSDXLOnesLinear() throws {
        let sd15 = try Golden("sd15"), sdxl = try Golden("sdxl")
        #expect(sd15.diffusersUNet["down_blocks.0.attentions.0.proj_in.weight"] == [320, 320, 1, 1])
        #expect(sdxl.diffusersUNet["down_blocks.1.attentions.0.proj_in.weight"] == [640, 640])
        #expect(LoRANaming.kohyaName(unetModule: "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k", sgmPaths: true) { _ in true }
                == "lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k")
    }
}
