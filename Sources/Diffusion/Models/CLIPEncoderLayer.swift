/// One pre-norm transformer block of CLIP's encoders (`encoder.layers.N` in transformers' naming). The text and
/// image towers share the layout; only the text tower masks attention causally.
struct CLIPEncoderLayer: Sendable {
    let layerNorm1: LayerNorm
    let query: Linear, key: Linear, value: Linear, out: Linear
    let layerNorm2: LayerNorm
    let fc1: Linear, fc2: Linear
    let heads: Int
    let activation: TextEncoderConfiguration.Activation

    init(_ parameters: ScopedParameters, width: Int, intermediateSize: Int, heads: Int,
         activation: TextEncoderConfiguration.Activation, layerNormEpsilon: Float) throws {
        let attention = parameters.scoped("self_attn")
        layerNorm1 = try LayerNorm(parameters.scoped("layer_norm1"), features: width, epsilon: layerNormEpsilon)
        query = try Linear(attention.scoped("q_proj"), inFeatures: width, outFeatures: width)
        key = try Linear(attention.scoped("k_proj"), inFeatures: width, outFeatures: width)
        value = try Linear(attention.scoped("v_proj"), inFeatures: width, outFeatures: width)
        out = try Linear(attention.scoped("out_proj"), inFeatures: width, outFeatures: width)
        layerNorm2 = try LayerNorm(parameters.scoped("layer_norm2"), features: width, epsilon: layerNormEpsilon)
        fc1 = try Linear(parameters.scoped("mlp.fc1"), inFeatures: width, outFeatures: intermediateSize)
        fc2 = try Linear(parameters.scoped("mlp.fc2"), inFeatures: intermediateSize, outFeatures: width)
        self.heads = heads
        self.activation = activation
    }

    /// [batch, tokens, width] → the same shape. `causal`: token i attends to tokens ≤ i only (the text tower).
    func callAsFunction(_ hidden: Tensor, causal: Bool) -> Tensor {
        let normed = layerNorm1(hidden)
        let attended = Attention.scaledDotProduct(
            query: Attention.splitHeads(query(normed), heads: heads),
            key: Attention.splitHeads(key(normed), heads: heads),
            value: Attention.splitHeads(value(normed), heads: heads),
            causal: causal)
        let afterAttention = hidden + out(Attention.mergeHeads(attended))
        return afterAttention + fc2(activation(fc1(layerNorm2(afterAttention))))
    }
}

extension TextEncoderConfiguration.Activation {
    /// The MLP's nonlinearity.
    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .quickGELU: return x * (x * 1.702).sigmoid()
        case .gelu: return x.gelu()
        }
    }
}
