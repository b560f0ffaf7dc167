import Foundation

/// CLIP as transformers' `CLIPModel`: an image tower and a text tower projecting into one space, for evaluating
/// generations — CLIP score (does the image show the prompt?) and CLIP accuracy / zero-shot classification
/// (which of several texts fits the image best?). Embeddings are L2-normalised, so their dot products are cosines.
public struct CLIPModel: Sendable {
    public let configuration: CLIPModelConfiguration
    public let tokenizer: CLIPTokenizer
    public let imageProcessor: CLIPImageProcessor
    public let textModel: CLIPTextModel
    public let visionModel: CLIPVisionModel
    /// The temperature multiplying cosines into logits: exp of the checkpoint's `logit_scale` (100 for OpenAI CLIP).
    public let logitScale: Float
    /// Stored tensors nothing read: a wrong model family or a damaged file shows up here.
    public let unusedTensors: [String]

    /// Loads a transformers `CLIPModel` folder (`openai/clip-vit-large-patch14` as downloaded): `config.json`,
    /// `model.safetensors` (or shards; without them an OpenCLIP `open_clip_model.safetensors`),
    /// `preprocessor_config.json`, and the tokenizer's `vocab.json` and `merges.txt`. Weights are read from
    /// safetensors only; the first missing or mis-shaped tensor is an error naming it.
    public static func load(from folder: URL) throws -> CLIPModel {
        let configFile = folder.appendingPathComponent("config.json")
        let configuration = try CLIPModelConfiguration.load(from: configFile)
        let processorFile = folder.appendingPathComponent("preprocessor_config.json")
        let imageProcessor = try CLIPImageProcessor.load(from: processorFile)
        // Checked here so a mismatch is a message naming the file, not a crash at the first image or prompt.
        guard imageProcessor.cropWidth == configuration.vision.imageSize, imageProcessor.cropHeight == configuration.vision.imageSize else {
            throw ModelConfigurationError(file: processorFile.path, key: "crop_size", problem: "\(imageProcessor.cropWidth)×"
                + "\(imageProcessor.cropHeight) differs from the vision model's image_size \(configuration.vision.imageSize)")
        }
        guard configuration.text.maxPositions >= CLIPTokenizer.contextLength else {
            throw ModelConfigurationError(file: configFile.path, key: "text_config.max_position_embeddings",
                                          problem: "\(configuration.text.maxPositions) is shorter than the tokenizer's \(CLIPTokenizer.contextLength) tokens")
        }
        return try CLIPModel(configuration: configuration, parameters: try parameters(in: folder),
                             tokenizer: try CLIPTokenizer(folder: folder), imageProcessor: imageProcessor)
    }

    /// The folder's transformers weights, or else its OpenCLIP file (LAION's repositories ship both; some only
    /// the OpenCLIP one), read in transformers' naming.
    static func parameters(in folder: URL) throws -> ParameterReader {
        do {
            let weights = try ComponentWeights.open(folder: folder, stem: "model", variant: nil)
            return ParameterReader(componentFiles: weights.files)
        } catch let error as WeightsError {
            guard case .noWeights = error,
                  let openCLIP = ["open_clip_model.safetensors", "open_clip_pytorch_model.safetensors"]
                    .map(folder.appendingPathComponent).first(where: { FileManager.default.fileExists(atPath: $0.path) })
            else { throw error }
            return ParameterReader(openCLIPFile: try WeightFile.open(openCLIP))
        }
    }

    init(configuration: CLIPModelConfiguration, parameters: ParameterReader, tokenizer: CLIPTokenizer,
         imageProcessor: CLIPImageProcessor) throws {
        self.configuration = configuration
        self.tokenizer = tokenizer
        self.imageProcessor = imageProcessor
        textModel = try CLIPTextModel(configuration: configuration.text, parameters: parameters)
        visionModel = try CLIPVisionModel(configuration: configuration.vision, parameters: parameters)
        logitScale = Foundation.exp(try parameters.tensor("logit_scale", shape: []).scalarValue)
        unusedTensors = parameters.unusedStoredKeys
    }

    /// L2-normalised image embeddings, [images, projectionDim] (transformers' `image_embeds`).
    public func imageEmbeddings(_ images: [RGBImage]) -> Tensor {
        imageEmbeddings(pixelValues: imageProcessor.pixelValues(images))
    }

    /// L2-normalised image embeddings of already preprocessed images ([images, 3, size, size]).
    public func imageEmbeddings(pixelValues: Tensor) -> Tensor {
        // A CLIPModel's configuration always gives the vision tower its projection.
        Self.normalized(visionModel(pixelValues: pixelValues).projected!)
    }

    /// L2-normalised text embeddings, [texts, projectionDim] (transformers' `text_embeds`); texts longer than 75
    /// tokens are truncated, as the reference tokenizer truncates them.
    public func textEmbeddings(_ texts: [String]) -> Tensor {
        let tokenIDs = texts.map { tokenizer.encode($0).ids.map(Int.init) }
        // A CLIPModel's configuration always gives the text tower its projection.
        return Self.normalized(textModel(tokenIDs: tokenIDs).projected!)
    }

    /// logitScale · cosine for every image–text pair, [images, texts] (transformers' `logits_per_image`): the
    /// softmax over a row classifies the image among the texts (CLIP accuracy, zero-shot classification).
    public func logits(imageEmbeddings: Tensor, textEmbeddings: Tensor) -> Tensor {
        Tensor.matmul(imageEmbeddings, textEmbeddings.transposed()) * logitScale
    }

    /// torchmetrics' `CLIPScore` over image–text pairs (image i with text i): max(100 · mean cosine, 0).
    public func clipScore(images: [RGBImage], texts: [String]) -> Float {
        precondition(!images.isEmpty && images.count == texts.count,
                     "CLIPModel.clipScore: \(images.count) images and \(texts.count) texts do not pair up")
        let cosines = (imageEmbeddings(images) * textEmbeddings(texts)).sum(axis: 1).toArray()
        return max(100 * cosines.reduce(0, +) / Float(cosines.count), 0)
    }

    /// torchmetrics' `CLIPScore` of one image and its prompt: max(100 · cosine, 0).
    public func clipScore(image: RGBImage, text: String) -> Float {
        clipScore(images: [image], texts: [text])
    }

    /// Each row divided by its Euclidean norm.
    static func normalized(_ rows: Tensor) -> Tensor {
        rows / (rows * rows).sum(axis: 1, keepDims: true).sqrt()
    }
}
