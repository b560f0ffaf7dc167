import Foundation
import Testing
@testable import Diffusion

/// Parity with transformers on tiny random CLIP text models (tools/golden_clip.py).
@Suite struct CLIPTextModelTests {
    static func folder(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/clip/\(name)")
    }

    static func maxAbsDifference(_ first: Tensor, _ second: Tensor) -> Float {
        precondition(first.shape == second.shape, "\(first.shape) vs \(second.shape)")
        return zip(first.toArray(), second.toArray()).map { abs($0 - $1) }.max() ?? 0
    }

    static func expected(_ outputs: SafetensorsFile, _ name: String) throws -> Tensor {
        Tensor(try outputs.floats(name), shape: try outputs.info(name).shape)
    }

    @Test(arguments: ["quickgelu", "gelu-proj"])
    func matchesTransformers(name: String) throws {
        let folder = Self.folder(name)
        let configuration = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("config.json"))
        let weights = try WeightFile.open(folder.appendingPathComponent("model.safetensors"))
        let reader = ParameterReader(componentFile: weights)
        let model = try CLIPTextModel(configuration: configuration, parameters: reader)
        #expect(reader.unusedStoredKeys.isEmpty, "unread: \(reader.unusedStoredKeys)")

        let outputs = try WeightFile.open(folder.appendingPathComponent("outputs.safetensors"))
        let ids = try outputs.floats("input_ids").map { Int($0) }
        let output = model(tokenIDs: [Array(ids[0..<77]), Array(ids[77..<154])])

        let hidden = try Self.expected(outputs, "hidden_states")
        #expect(output.hiddenStates.count == configuration.layers + 1)
        for (layer, state) in output.hiddenStates.enumerated() {
            let reference = hidden.narrowed(axis: 0, start: layer, length: 1).reshaped(state.shape)
            #expect(Self.maxAbsDifference(state, reference) <= 1e-4, "hidden state \(layer)")
        }
        #expect(Self.maxAbsDifference(output.lastHiddenState, try Self.expected(outputs, "last_hidden_state")) <= 1e-4)
        #expect(Self.maxAbsDifference(output.pooled, try Self.expected(outputs, "pooled")) <= 1e-4)
        if configuration.hasProjection {
            let projected = try #require(output.projected)
            #expect(Self.maxAbsDifference(projected, try Self.expected(outputs, "text_embeds")) <= 1e-4)
        } else {
            #expect(output.projected == nil)
        }
    }

    @Test func aMisShapedTensorIsNamedWithBothShapes() throws {
        let folder = Self.folder("quickgelu")
        var configuration = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("config.json"))
        configuration.intermediateSize = 48
        let reader = ParameterReader(componentFile: try WeightFile.open(folder.appendingPathComponent("model.safetensors")))
        #expect {
            _ = try CLIPTextModel(configuration: configuration, parameters: reader)
        } throws: { error in
            "\(error)".hasSuffix("tensor \"text_model.encoder.layers.0.mlp.fc1.weight\" has shape [64, 32], expected [48, 32]")
        }
    }
}
