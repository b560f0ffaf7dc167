import Foundation
import Testing
@testable import Diffusion

/// The key table against every key and shape of real SD1.5 and SDXL single-file checkpoints (sd-mecha's model
/// configs) and of the diffusers components built from the real configs (tools/golden_model_keys.py).
@Suite struct SingleFileKeyMapTests {
    struct Golden {
        var singleFile: [String: [Int]]
        var optional: Set<String>
        var diffusers: [String: [String: [Int]]]

        init(_ name: String) throws {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Golden/model-keys/\(name).json")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
            singleFile = object["single_file"] as? [String: [Int]] ?? [:]
            optional = Set(object["single_file_optional"] as? [String] ?? [])
            diffusers = object["diffusers"] as? [String: [String: [Int]]] ?? [:]
        }
    }

    static func transformed(_ shape: [Int], by transform: SingleFileKeyMap.Transform) -> [Int] {
        switch transform {
        case .identity: return shape
        case .squeezeConv1x1: return Array(shape.prefix(2))
        case .splitRows(_, let count): return [shape[0] / count] + shape.dropFirst()
        case .transpose: return shape.reversed()
        }
    }

    @Test(arguments: ["sd15", "sdxl"])
    func everySingleFileKeyLandsOnADiffusersTensorOfTheRightShape(model: String) throws {
        let golden = try Golden(model)
        #expect(golden.singleFile.count > 1000)
        var hits: [String: Int] = [:]
        for (key, shape) in golden.singleFile {
            switch SingleFileKeyMap.map(key) {
            case .unknown:
                Issue.record("\(model): no mapping for \(key)")
            case .ignored:
                #expect(golden.optional.contains(key), "\(model): \(key) is required but ignored")
            case .tensors(let targets):
                for target in targets {
                    let expected = golden.diffusers[target.component.rawValue]?[target.key]
                    #expect(expected == Self.transformed(shape, by: target.transform),
                            "\(model): \(key) → \(target.component.rawValue).\(target.key)")
                    hits["\(target.component.rawValue).\(target.key)", default: 0] += 1
                }
            }
        }
        for (component, keys) in golden.diffusers {
            for key in keys.keys where !key.hasSuffix("position_ids") {
                #expect(hits["\(component).\(key)"] == 1, "\(model): \(component).\(key) fed \(hits["\(component).\(key)"] ?? 0) times")
            }
        }
    }

    @Test(arguments: ["sd15", "sdxl"])
    func unetNamesRoundTripBetweenLayouts(model: String) throws {
        let golden = try Golden(model)
        // SD1.5's first up level and SDXL's last have no attentions.
        let plainUpLevel = model == "sd15" ? 0 : 2
        let unetKeys = try #require(golden.diffusers["unet"])
        for key in unetKeys.keys {
            let single = SingleFileKeyMap.singleFileUNetKey(fromDiffusers: key) { $0 != plainUpLevel }
            let ldm = try #require(single, "\(model): \(key) has no single-file name")
            #expect(golden.singleFile["model.diffusion_model." + ldm] != nil, "\(model): \(key) → \(ldm) is not a real key")
            #expect(SingleFileKeyMap.unetKey(fromSingleFile: ldm) == key)
        }
    }

    @Test func moduleNamesMapTooForLoRANaming() {
        let path = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"
        let sgm = SingleFileKeyMap.singleFileUNetKey(fromDiffusers: path) { _ in true }
        #expect(sgm == "input_blocks.4.1.transformer_blocks.0.attn1.to_q")
        #expect(SingleFileKeyMap.unetKey(fromSingleFile: "output_blocks.0.1.proj_in") == "up_blocks.0.attentions.0.proj_in")
        #expect(SingleFileKeyMap.unetKey(fromSingleFile: "middle_block.1.proj_out") == "mid_block.attentions.0.proj_out")
    }

    @Test func foreignKeysAreReportedNotGuessed() {
        #expect(SingleFileKeyMap.map("model.diffusion_model.input_blocks.1.7.weight") == .unknown)
        #expect(SingleFileKeyMap.map("something.else") == .unknown)
        #expect(SingleFileKeyMap.map("first_stage_model.decoder.up.9.block.0.conv1.weight") == .unknown)
        #expect(SingleFileKeyMap.map("model_ema.decay") == .ignored)
        #expect(SingleFileKeyMap.map("alphas_cumprod") == .ignored)
    }

    @Test func vaeLevelsAreCountedFromTheTopInDiffusers() {
        let mapping = SingleFileKeyMap.map("first_stage_model.decoder.up.0.block.2.conv1.weight", vaeLevels: 2)
        #expect(mapping == .tensors([.init(.vae, "decoder.up_blocks.1.resnets.2.conv1.weight")]))
    }
}
