import Foundation
import Testing
@testable import Diffusion

@Suite struct SafetensorsDiffusersFolderTests {
    @Test func readsTheTinyFixturePipeline() throws {
        let folder = try DiffusersFolder(url: SafetensorsFixtures.fixturesDirectory.appendingPathComponent("tiny-sd1"))
        #expect(folder.pipelineClass == "StableDiffusionPipeline")
        #expect(folder.components.map(\.name).sorted() == ["scheduler", "text_encoder", "tokenizer", "unet", "vae"])
        #expect(folder.options == [JSONMember("requires_safety_checker", .bool(false))])
        let unet = try #require(folder.components.first { $0.name == "unet" })
        #expect(unet.className == "UNet2DConditionModel" && unet.library == "diffusers")
        #expect(unet.keyFigures.first { $0.key == "cross_attention_dim" }?.value == .number("32"))
        #expect(unet.keyFigures.first { $0.key == "block_out_channels" }?.value == .array([.number("8"), .number("16")]))
        // Counts from Python's safetensors on the same file: 208 tensors, 53,284 elements, all F32.
        #expect(unet.weightFiles == [DiffusersFolder.WeightFileSummary(
            fileName: "diffusion_pytorch_model.safetensors", variant: nil, tensorCount: 208, parameterCount: 53_284,
            dtypeCounts: [.f32: 208])])
        let scheduler = try #require(folder.components.first { $0.name == "scheduler" })
        #expect(scheduler.configFileName == "scheduler_config.json")
        #expect(scheduler.keyFigures.map(\.key).contains("beta_schedule"))
        #expect(scheduler.weightFiles.isEmpty)
    }

    @Test func listsVariantsAndPicklesAndRejectsBrokenIndexes() throws {
        let root = try SafetensorsFixtures.temporaryDirectory("diffusers")
        defer { try? FileManager.default.removeItem(at: root) }
        let unet = root.appendingPathComponent("unet")
        try FileManager.default.createDirectory(at: unet, withIntermediateDirectories: true)
        try Data(#"{"_class_name":"P","unet":["diffusers","UNet2DConditionModel"],"safety_checker":[null,null]}"#.utf8)
            .write(to: root.appendingPathComponent("model_index.json"))
        try Data(#"{"sample_size":64,"cross_attention_dim":null}"#.utf8).write(to: unet.appendingPathComponent("config.json"))
        let entry = SafetensorsEntry(name: "w", dtype: .f16, shape: [2, 2], bytes: [UInt8](repeating: 0, count: 8))
        try SafetensorsWriter.write([entry], to: unet.appendingPathComponent("diffusion_pytorch_model.fp16.safetensors"))
        try Data([0x80, 0x02]).write(to: unet.appendingPathComponent("diffusion_pytorch_model.bin"))

        let folder = try DiffusersFolder(url: root)
        #expect(folder.components.map(\.name) == ["unet"])
        let component = folder.components[0]
        #expect(component.weightFiles.map(\.variant) == ["fp16"])
        #expect(component.weightFiles.first?.dtypeCounts == [.f16: 1])
        #expect(component.pickleFiles == ["diffusion_pytorch_model.bin"])
        #expect(component.keyFigures == [JSONMember("sample_size", .number("64"))])

        try Data(#"{"unet":["diffusers","A"],"unet":["diffusers","B"]}"#.utf8).write(to: root.appendingPathComponent("model_index.json"))
        #expect {
            try DiffusersFolder(url: root)
        } throws: { error in
            let message = String(describing: error)
            return message.hasPrefix(root.appendingPathComponent("model_index.json").path) && message.contains("duplicate key \"unet\"")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("model_index.json"))
        #expect(throws: WeightsError.notADiffusersFolder(path: root.path, reason: "no model_index.json")) {
            try DiffusersFolder(url: root)
        }
    }
}
