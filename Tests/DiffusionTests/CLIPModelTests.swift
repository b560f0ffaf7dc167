import Foundation
import Testing
@testable import Diffusion

/// Parity with transformers' `CLIPModel` and its PIL image processor on a tiny random model
/// (tools/golden_clip_model.py).
@Suite struct CLIPModelTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/clip-model")
    static let texts = ["a cat", "a dog painting", "van gogh"]

    static func outputs() throws -> SafetensorsFile {
        try WeightFile.open(folder.appendingPathComponent("outputs.safetensors"))
    }

    static func expected(_ outputs: SafetensorsFile, _ name: String) throws -> Tensor {
        Tensor(try outputs.floats(name), shape: try outputs.info(name).shape)
    }

    /// The golden's test images (U8 [height, width, 3]).
    static func images(_ outputs: SafetensorsFile) throws -> [RGBImage] {
        try ["image0", "image1"].map { name in
            let shape = try outputs.info(name).shape
            return RGBImage(width: shape[1], height: shape[0], pixels: try outputs.bytes(name))
        }
    }

    static func maxAbsDifference(_ first: Tensor, _ second: Tensor) -> Float {
        precondition(first.shape == second.shape, "\(first.shape) vs \(second.shape)")
        return zip(first.toArray(), second.toArray()).map { abs($0 - $1) }.max() ?? 0
    }

    /// A writable copy of the golden folder.
    static func copiedFolder() throws -> URL {
        let copy = try SafetensorsFixtures.temporaryDirectory("clip-model").appendingPathComponent("clip-model")
        try FileManager.default.copyItem(at: folder, to: copy)
        return copy
    }

    /// Pillow's bicubic resize is reproduced to the byte, so pixel values differ only by float rounding in the
    /// normalisation (~1e-7). A single resized byte off by one would differ by 1 / 255 / std ≈ 0.015, so the
    /// 1e-5 tolerance proves every byte of both resizes (one shrinking, antialiased; one enlarging) equals PIL's.
    @Test func preprocessingMatchesTransformers() throws {
        let outputs = try Self.outputs()
        let processor = try CLIPImageProcessor.load(from: Self.folder.appendingPathComponent("preprocessor_config.json"))
        let images = try Self.images(outputs)
        #expect(images.map(\.width) == [45, 20] && images.map(\.height) == [38, 13])
        let pixelValues = processor.pixelValues(images)
        #expect(Self.maxAbsDifference(pixelValues, try Self.expected(outputs, "pixel_values")) <= 1e-5)
    }

    @Test func embeddingsAndLogitsMatchTransformers() throws {
        let model = try CLIPModel.load(from: Self.folder)
        #expect(model.unusedTensors.isEmpty, "unread: \(model.unusedTensors)")
        let outputs = try Self.outputs()
        let expectedIDs = try outputs.floats("input_ids").map(Int32.init)
        #expect(Self.texts.flatMap { model.tokenizer.encode($0).ids } == expectedIDs)

        let imageReference = try Self.expected(outputs, "image_embeds")
        let fromPixels = model.imageEmbeddings(pixelValues: try Self.expected(outputs, "pixel_values"))
        #expect(Self.maxAbsDifference(fromPixels, imageReference) <= 1e-4)
        let imageEmbeddings = model.imageEmbeddings(try Self.images(outputs))
        #expect(Self.maxAbsDifference(imageEmbeddings, imageReference) <= 1e-4)
        let textEmbeddings = model.textEmbeddings(Self.texts)
        #expect(Self.maxAbsDifference(textEmbeddings, try Self.expected(outputs, "text_embeds")) <= 1e-4)
        let logits = model.logits(imageEmbeddings: imageEmbeddings, textEmbeddings: textEmbeddings)
        #expect(Self.maxAbsDifference(logits, try Self.expected(outputs, "logits_per_image")) <= 1e-4)
    }

    /// The same weights in OpenCLIP's naming (fused q/k/v, projections stored for x @ P), written by the golden
    /// script, read through the mapping table: the same embeddings.
    @Test func anOpenCLIPFileGivesTheSameModel() throws {
        let copy = try Self.copiedFolder()
        try FileManager.default.removeItem(at: copy.appendingPathComponent("model.safetensors"))
        let model = try CLIPModel.load(from: copy)
        #expect(model.unusedTensors.isEmpty, "unread: \(model.unusedTensors)")
        let outputs = try Self.outputs()
        let imageEmbeddings = model.imageEmbeddings(try Self.images(outputs))
        #expect(Self.maxAbsDifference(imageEmbeddings, try Self.expected(outputs, "image_embeds")) <= 1e-4)
        let textEmbeddings = model.textEmbeddings(Self.texts)
        #expect(Self.maxAbsDifference(textEmbeddings, try Self.expected(outputs, "text_embeds")) <= 1e-4)
        let logits = model.logits(imageEmbeddings: imageEmbeddings, textEmbeddings: textEmbeddings)
        #expect(Self.maxAbsDifference(logits, try Self.expected(outputs, "logits_per_image")) <= 1e-4)
    }

    @Test func clipScoreIsAHundredTimesTheClampedMeanCosine() throws {
        let model = try CLIPModel.load(from: Self.folder)
        let outputs = try Self.outputs()
        let images = try Self.images(outputs)
        let logits = try Self.expected(outputs, "logits_per_image")
        func cosine(_ image: Int, _ text: Int) -> Float { logits.element(at: [image, text]) / model.logitScale }
        let single = model.clipScore(image: images[1], text: Self.texts[2])
        #expect(abs(single - max(100 * cosine(1, 2), 0)) <= 1e-3)
        let pairs = model.clipScore(images: images, texts: Array(Self.texts.prefix(2)))
        #expect(abs(pairs - max(50 * (cosine(0, 0) + cosine(1, 1)), 0)) <= 1e-3)
    }

    @Test func aMissingTensorIsNamedWithItsShape() throws {
        let copy = try Self.copiedFolder()
        let weights = copy.appendingPathComponent("model.safetensors")
        try ComponentWeightsTests.rewrite(weights) { $0.name == "vision_model.post_layernorm.weight" ? nil : $0 }
        #expect {
            _ = try CLIPModel.load(from: copy)
        } throws: { error in
            "\(error)" == "\(weights.path): tensor \"vision_model.post_layernorm.weight\" is missing (expected shape [32])"
        }
    }

    @Test func picklesAreRefused() throws {
        let copy = try Self.copiedFolder()
        let weights = copy.appendingPathComponent("model.safetensors")
        // torch.save's zip archive, under the safetensors name: refused by its content.
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 60)).write(to: weights)
        #expect(throws: WeightsError.pickleRefused(file: weights.path)) { _ = try CLIPModel.load(from: copy) }
        // Only a pickle under its own name: no weights, and the message says to convert it.
        try FileManager.default.moveItem(at: weights, to: copy.appendingPathComponent("pytorch_model.bin"))
        try FileManager.default.removeItem(at: copy.appendingPathComponent("open_clip_model.safetensors"))
        #expect(throws: WeightsError.noWeights(folder: copy.path, expected: "model.safetensors", pickles: ["pytorch_model.bin"])) {
            _ = try CLIPModel.load(from: copy)
        }
    }
}
