import Foundation
import Testing
@testable import Diffusion

/// Parity with diffusers on a tiny random SD-layout VAE (tools/golden_vae.py).
@Suite struct AutoencoderParityTests {
    @Test func encodeAndDecodeMatchDiffusers() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/vae")
        let configuration = try AutoencoderConfiguration.load(from: folder.appendingPathComponent("config.json"))
        let reader = ParameterReader(componentFile: try WeightFile.open(folder.appendingPathComponent("diffusion_pytorch_model.safetensors")))
        let vae = try AutoencoderKL(configuration: configuration, parameters: reader)
        #expect(reader.unusedStoredKeys.isEmpty, "unread: \(reader.unusedStoredKeys.prefix(5))")
        #expect(vae.downscaleFactor == 4)

        let io = try WeightFile.open(folder.appendingPathComponent("io.safetensors"))
        func tensor(_ name: String) throws -> Tensor { Tensor(try io.floats(name), shape: try io.info(name).shape) }
        func maxError(_ first: Tensor, _ second: Tensor) -> Float {
            #expect(first.shape == second.shape)
            return zip(first.toArray(), second.toArray()).map { abs($0 - $1) }.max() ?? .infinity
        }
        let (mean, logVariance) = vae.encode(try tensor("image"))
        #expect(maxError(mean, try tensor("mean")) <= 1e-4)
        #expect(maxError(logVariance, try tensor("logvar")) <= 1e-4)
        #expect(maxError(vae.decode(try tensor("latents")), try tensor("decoded")) <= 1e-4)
    }
}
