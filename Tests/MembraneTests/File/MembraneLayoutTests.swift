import Foundation
import Testing
@testable import Membrane

/// Target modules computed from the bundled UNet configs against the real SD1.5 / SDXL key sets.
@Suite struct MembraneLayoutTests {
    private func goldenUNet(_ model: String) throws -> [String: [Int]] {
        let url = MembraneFixtures.repository.appendingPathComponent("Tests/DiffusionTests/Golden/model-keys/\(model).json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        return try #require((object?["diffusers"] as? [String: Any])?["unet"] as? [String: [Int]])
    }

    @Test(arguments: [(ModelFamily.sd1, "sd15", 192, 423_936), (.sdxl, "sdxl", 722, 2_659_840)])
    func modulesAndShapesMatchTheRealKeys(family: ModelFamily, model: String, count: Int, parameters: Int) throws {
        let layout = try #require(try MembraneLayout.bundled(for: family))
        let golden = try goldenUNet(model)
        #expect(layout.modules.count == count)
        #expect(Set(layout.modules.map(\.path)).count == count)
        for module in layout.modules {
            let expected = module.isConvolution ? [module.outFeatures, module.inFeatures, 1, 1] : [module.outFeatures, module.inFeatures]
            #expect(golden[module.path + ".weight"] == expected, "\(module.path)")
        }
        // METHOD.md §1: the rank-1 parameter count, Σ (in + out).
        #expect(layout.modules.reduce(0) { $0 + $1.inFeatures + $1.outFeatures } == parameters)
        // Every transformer linear of the real UNet is a target (the golden set has no more).
        let goldenTargets = golden.keys.filter { key in
            key.contains("attentions.") && [".proj_in.weight", ".proj_out.weight", ".to_q.weight", ".to_k.weight", ".to_v.weight",
                                            ".to_out.0.weight", ".ff.net.0.proj.weight", ".ff.net.2.weight"].contains(where: key.hasSuffix)
        }
        #expect(goldenTargets.count == count)
    }

    @Test func sd2HasLinearProjectionsAndWiderCrossAttention() throws {
        let layout = try #require(try MembraneLayout.bundled(for: .sd2))
        #expect(layout.modules.count == 192)
        #expect(layout.modules.reduce(0) { $0 + $1.inFeatures + $1.outFeatures } == 432_128)
        #expect(layout.module("down_blocks.0.attentions.0.proj_in")?.isConvolution == false)
        #expect(layout.module("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k")?.inFeatures == 1024)
        #expect(try MembraneLayout.bundled(for: .testbed) == nil)
    }

    @Test func tinyModelLayoutCoversTheFixture() throws {
        let layout = try MembraneFixtures.tinyLayout
        // down_blocks.0 (1 attention), mid (1), up_blocks.1 (2): 4 transformers × 12 layers; the kohya fixture adapts 40.
        #expect(layout.modules.count == 48)
        let fixture = try MembraneFile.read(MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors"), layout: layout)
        #expect(Set(fixture.layers.keys).isSubset(of: layout.modules.map(\.path)))
        #expect(layout.module("mid_block.attentions.0.proj_in")?.isConvolution == true)
        #expect(layout.module("up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_v")?.inFeatures == 32)
    }
}
