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

    public let configuration: TextEncoderConfiguration
    /// The vocabulary's input vectors (before positions and context are mixed in); facilitated transport's
    /// `embeddings` measure compares words by them.
    public let tokenEmbedding: Embedding
    let positionEmbedding: Embedding
    let layers: [CLIPEncoderLayer]
    let finalLayerNorm: LayerNorm
    let textProjection: Linear?

    public init(configuration: TextEncoderConfiguration, parameters: ParameterReader) throws {
        self.configuration = configuration
        let c = configuration
        let model = parameters.scoped("text_model")
        tokenEmbedding = try Embedding(model.scoped("embeddings.token_embedding"), count: c.vocabularySize, width: c.hiddenSize)
        positionEmbedding = try Embedding(model.scoped("embeddings.position_embedding"), count: c.maxPositions, width: c.hiddenSize)
        layers = try (0..<c.layers).map { index in
            try CLIPEncoderLayer(model.scoped("encoder.layers.\(index)"), width: c.hiddenSize,
                                 intermediateSize: c.intermediateSize, heads: c.attentionHeads,
                                 activation: c.activation, layerNormEpsilon: c.layerNormEpsilon)
        }
        finalLayerNorm = try LayerNorm(model.scoped("final_layer_norm"), features: c.hiddenSize, epsilon: c.layerNormEpsilon)
        textProjection = c.hasProjection
            ? try Linear(parameters.scoped("text_projection"), inFeatures: c.hiddenSize, outFeatures: c.projectionDim, bias: false)
            : nil
    }

    /// Encodes token sequences of equal length (77 for Stable Diffusion).
    public func callAsFunction(tokenIDs: [[Int]]) -> Output {
        self(inputs: inputs(tokenIDs: tokenIDs), tokenIDs: tokenIDs)
    }

    /// The token embeddings of `tokenIDs`: [batch, tokens, width], what the encoder reads before positions.
    public func inputs(tokenIDs: [[Int]]) -> Tensor {
        let batch = tokenIDs.count, tokens = tokenIDs.first?.count ?? 0
        precondition(batch > 0 && tokenIDs.allSatisfy { $0.count == tokens } && tokens <= configuration.maxPositions,
                     "CLIPTextModel: expected sequences of equal length ≤ \(configuration.maxPositions)")
        return tokenEmbedding(tokenIDs.flatMap { $0 }, shape: [batch, tokens])
    }

    /// The input vectors [count, width] of `count` vocabulary tokens whose ids `next` draws: where learned tokens
    /// (an attack's, robust training's) start.
    public func vocabularyVectors(count: Int, drawing next: () -> UInt64) -> Tensor {
        let ids = (0..<count).map { _ in Int(next() % UInt64(configuration.vocabularySize)) }
        return inputs(tokenIDs: [ids]).reshaped([count, configuration.hiddenSize])
    }

    /// Encodes input vectors [batch, tokens, width] — token embeddings, some of them perhaps learned (textual
    /// inversion, an attack) — of the sequences `tokenIDs`, which still say where each one's text ends.
    public func callAsFunction(inputs: Tensor, tokenIDs: [[Int]]) -> Output {
        let batch = tokenIDs.count, tokens = tokenIDs.first?.count ?? 0
        precondition(inputs.shape == [batch, tokens, configuration.hiddenSize],
                     "CLIPTextModel: inputs \(inputs.shape) do not match \(batch) sequences of \(tokens) tokens")
        let positions = positionEmbedding(Array(0..<tokens), shape: [1, tokens])
        var hidden = inputs + positions
        var hiddenStates = [hidden]
        for layer in layers {
            hidden = layer(hidden, causal: true)
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
}
