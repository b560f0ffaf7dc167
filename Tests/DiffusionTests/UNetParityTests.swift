import Foundation
import Testing
@testable import Diffusion

/// Parity with diffusers on tiny random UNets shaped like SD1.5, SD2.1 and SDXL (tools/golden_unet.py).
@Suite struct UNetParityTests {
    static func folder(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/unet/\(name)")
    }

    static func tensor(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
        Tensor(try file.floats(name), shape: try file.info(name).shape)
    }

    @Test(arguments: ["sd1", "sd2", "sdxl"])
    func noisePredictionMatchesDiffusers(model: String) throws {
        let folder = Self.folder(model)
        let configuration = try UNetConfiguration.load(from: folder.appendingPathComponent("config.json"))
        let reader = ParameterReader(componentFile: try WeightFile.open(folder.appendingPathComponent("diffusion_pytorch_model.safetensors")))
        let unet = try UNet2DConditionModel(configuration: configuration, parameters: reader)
        #expect(reader.unusedStoredKeys.isEmpty, "unread: \(reader.unusedStoredKeys.prefix(5))")

        let io = try WeightFile.open(folder.appendingPathComponent("io.safetensors"))
        let added = configuration.textTimeEmbedding == nil ? nil
            : UNet2DConditionModel.AddedConditions(pooledText: try Self.tensor(io, "pooled"), timeIDs: try Self.tensor(io, "time_ids"))
        let out = unet(try Self.tensor(io, "sample"), timesteps: try io.floats("timesteps"),
                       context: try Self.tensor(io, "context"), added: added)
        let expected = try Self.tensor(io, "out")
        #expect(out.shape == expected.shape)
        let error = zip(out.toArray(), expected.toArray()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error <= 1e-4, "\(model): max abs error \(error)")
    }
}
