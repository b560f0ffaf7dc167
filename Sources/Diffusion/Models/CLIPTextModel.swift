/// The CLIP text transformer as transformers' `CLIPTextModel` / `CLIPTextModelWithProjection` (SD1.x's
/// ViT-L/14, SD2.x's OpenCLIP ViT-H, SDXL's pair). Parameter names mirror the checkpoint: `text_model.…`.
public struct CLIPTextModel: Sendable {
    public struct Output: Sendable {
        /// hiddenStates[0] is the embedding output, hiddenStates[i] the output of layer i ([batch, tokens, width]).
        public var hiddenStates: [Tensor]
        /// The last layer's output after the final layer norm.
        public var lastHiddenState: Tensor
        /// lastHiddenState at each sequence's end-of-text position: [batch, width].
        public var pooled: Tensor
        /// `pooled` through `text_projection` (only for models that have it): SDXL's pooled text embedding.
        public var projected: Tensor?
    }

    struct Layer: Sendable {
        var layerNorm1: LayerNorm
        var query: Linear, key: Linear, value: Linear, out: Linear
        var layerNorm2: LayerNorm
        var fc1: Linear, fc2: Linear
    }

    public let configuration: TextEncoderConfiguration
    /// The vocabulary's input vectors (before positions and context are mixed in); facilitated transport's
    /// `embeddings` measure compares words by them.
    public let tokenEmbedding: Embedding
    let positionEmbedding: Embedding
    let layers: [Layer]
    let finalLayerNorm: LayerNorm
    let textProjection: Linear?

    public init(configuration: TextEncoderConfiguration, parameters: ParameterReader) throws {
        self.configuration = configuration
        let c = configuration
        let model = parameters.scoped("text_model")
        tokenEmbedding = try Embedding(model.scoped("embeddings.token_embedding"), count: c.vocabularySize, width: c.hiddenSize)
        positionEmbedding = try Embedding(model.scoped("embeddings.position_embedding"), count: c.maxPositions, width: c.hiddenSize)
        layers = try (0..<c.layers).map { index in
            let layer = model.scoped("encoder.layers.\(index)")
            let attention = layer.scoped("self_attn")
            return Layer(
                layerNorm1: try LayerNorm(layer.scoped("layer_norm1"), features: c.hiddenSize, epsilon: c.layerNormEpsilon),
                query: try Linear(attention.scoped("q_proj"), inFeatures: c.hiddenSize, outFeatures: c.hiddenSize),
                key: try Linear(attention.scoped("k_proj"), inFeatures: c.hiddenSize, outFeatures: c.hiddenSize),
                value: try Linear(attention.scoped("v_proj"), inFeatures: c.hiddenSize, outFeatures: c.hiddenSize),
                out: try Linear(attention.scoped("out_proj"), inFeatures: c.hiddenSize, outFeatures: c.hiddenSize),
                layerNorm2: try LayerNorm(layer.scoped("layer_norm2"), features: c.hiddenSize, epsilon: c.layerNormEpsilon),
                fc1: try Linear(layer.scoped("mlp.fc1"), inFeatures: c.hiddenSize, outFeatures: c.intermediateSize),
                fc2: try Linear(layer.scoped("mlp.fc2"), inFeatures: c.intermediateSize, outFeatures: c.hiddenSize))
        }
        finalLayerNorm = try LayerNorm(model.scoped("final_layer_norm"), features: c.hiddenSize, epsilon: c.layerNormEpsilon)
        textProjection = c.hasProjection
            ? try Linear(parameters.scoped("text_projection"), inFeatures: c.hiddenSize, outFeatures: c.projectionDim, bias: false)
            : nil
    }

    /// Encodes token sequences of equal length (77 for Stable Diffusion).
    public func callAsFunction(tokenIDs: [[Int]]) -> Output {
        let batch = tokenIDs.count, tokens = tokenIDs.first?.count ?? 0
        precondition(batch > 0 && tokenIDs.allSatisfy { $0.count == tokens } && tokens <= configuration.maxPositions,
                     "CLIPTextModel: expected sequences of equal length ≤ \(configuration.maxPositions)")
        let positions = positionEmbedding(Array(0..<tokens), shape: [1, tokens])
        var hidden = tokenEmbedding(tokenIDs.flatMap { $0 }, shape: [batch, tokens]) + positions
        var hiddenStates = [hidden]
        let heads = configuration.attentionHeads
        for layer in layers {
            let normed = layer.layerNorm1(hidden)
            let attended = Attention.scaledDotProduct(
                query: Attention.splitHeads(layer.query(normed), heads: heads),
                key: Attention.splitHeads(layer.key(normed), heads: heads),
                value: Attention.splitHeads(layer.value(normed), heads: heads),
                causal: true)
            hidden = hidden + layer.out(Attention.mergeHeads(attended))
            hidden = hidden + layer.fc2(activation(layer.fc1(layer.layerNorm2(hidden))))
            hiddenStates.append(hidden)
        }
        let last = finalLayerNorm(hidden)
        // transformers pools at the highest token id for configs from before the EOS id was fixed (every SD
        // text encoder's config says eos_token_id 2): the end-of-text token 49407 is the largest id.
        let rows = tokenIDs.enumerated().map { sample, ids in
            let end = ids.max().flatMap { ids.firstIndex(of: $0) } ?? 0
            return last.narrowed(axis: 0, start: sample, length: 1).narrowed(axis: 1, start: end, length: 1)
                .reshaped([1, configuration.hiddenSize])
        }
        let pooled = Tensor.concat(rows, axis: 0)
        return Output(hiddenStates: hiddenStates, lastHiddenState: last, pooled: pooled,
                      projected: textProjection.map { $0(pooled) })
    }

    private func activation(_ x: Tensor) -> Tensor {
        switch configuration.activation {
        case .quickGELU: return x * (x * 1.702).sigmoid()
        case .gelu: return x.gelu()
        }
    }
}
