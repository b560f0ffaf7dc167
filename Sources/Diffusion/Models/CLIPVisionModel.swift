/// CLIP's ViT image tower as transformers' `CLIPVisionModel` / `CLIPVisionModelWithProjection` (and the image half
/// of `CLIPModel`). Parameter names mirror the checkpoint: `vision_model.…`, `visual_projection.weight`.
public struct CLIPVisionModel: Sendable {
    public struct Output: Sendable {
        /// The last layer's output: [batch, 1 + patches, width], the class token first.
        public var lastHiddenState: Tensor
        /// The class token after `post_layernorm`: [batch, width].
        public var pooled: Tensor
        /// `pooled` through `visual_projection` (models that have it): the image embedding before normalising.
        public var projected: Tensor?
    }

    public let configuration: VisionEncoderConfiguration
    let patchEmbedding: Conv2d
    let classEmbedding: Tensor
    let positionEmbedding: Embedding
    let preLayerNorm: LayerNorm
    let layers: [CLIPEncoderLayer]
    let postLayerNorm: LayerNorm
    let visualProjection: Linear?

    public init(configuration: VisionEncoderConfiguration, parameters: ParameterReader) throws {
        self.configuration = configuration
        let c = configuration
        let model = parameters.scoped("vision_model")
        let embeddings = model.scoped("embeddings")
        patchEmbedding = try Conv2d(embeddings.scoped("patch_embedding"), inChannels: c.channels,
                                    outChannels: c.hiddenSize, kernel: c.patchSize, stride: c.patchSize, bias: false)
        classEmbedding = try embeddings.tensor("class_embedding", shape: [c.hiddenSize])
        positionEmbedding = try Embedding(embeddings.scoped("position_embedding"), count: c.tokens, width: c.hiddenSize)
        // transformers' spelling of the pre-encoder norm ("layrnorm") is the checkpoint key.
        preLayerNorm = try LayerNorm(model.scoped("pre_layrnorm"), features: c.hiddenSize, epsilon: c.layerNormEpsilon)
        layers = try (0..<c.layers).map { index in
            try CLIPEncoderLayer(model.scoped("encoder.layers.\(index)"), width: c.hiddenSize,
                                 intermediateSize: c.intermediateSize, heads: c.attentionHeads,
                                 activation: c.activation, layerNormEpsilon: c.layerNormEpsilon)
        }
        postLayerNorm = try LayerNorm(model.scoped("post_layernorm"), features: c.hiddenSize, epsilon: c.layerNormEpsilon)
        visualProjection = c.hasProjection
            ? try Linear(parameters.scoped("visual_projection"), inFeatures: c.hiddenSize, outFeatures: c.projectionDim, bias: false)
            : nil
    }

    /// Encodes preprocessed images, [batch, channels, imageSize, imageSize] (`CLIPImageProcessor.pixelValues`).
    public func callAsFunction(pixelValues: Tensor) -> Output {
        let c = configuration
        precondition(pixelValues.shape.count == 4 && pixelValues.shape[1...] == [c.channels, c.imageSize, c.imageSize],
                     "CLIPVisionModel: expected [batch, \(c.channels), \(c.imageSize), \(c.imageSize)] pixels, got \(pixelValues.shape)")
        let batch = pixelValues.shape[0]
        // Each patch becomes one token: [batch, width, grid, grid] → [batch, patches, width].
        let patches = patchEmbedding(pixelValues).reshaped([batch, c.hiddenSize, c.gridSize * c.gridSize])
            .permuted([0, 2, 1])
        let classToken = classEmbedding.reshaped([1, 1, c.hiddenSize]).expanded(to: [batch, 1, c.hiddenSize])
        let positions = positionEmbedding.weight.reshaped([1, c.tokens, c.hiddenSize])
        var hidden = preLayerNorm(Tensor.concat([classToken, patches], axis: 1) + positions)
        for layer in layers {
            hidden = layer(hidden, causal: false)
        }
        let pooled = postLayerNorm(hidden.narrowed(axis: 1, start: 0, length: 1).reshaped([batch, c.hiddenSize]))
        return Output(lastHiddenState: hidden, pooled: pooled, projected: visualProjection.map { $0(pooled) })
    }
}
