import Foundation

/// diffusers' `ResnetBlock2D` (default time-scale-shift): two GroupNorm–SiLU–conv stages with the timestep
/// embedding added between them, and a 1×1 shortcut when the channel count changes.
struct ResnetBlock: Sendable {
    let norm1: GroupNorm, conv1: Conv2d
    let timeProjection: Linear?
    let norm2: GroupNorm, conv2: Conv2d
    let shortcut: Conv2d?

    init(_ p: ScopedParameters, inChannels: Int, outChannels: Int, timeChannels: Int?, groups: Int, epsilon: Float) throws {
        norm1 = try GroupNorm(p.scoped("norm1"), groups: groups, channels: inChannels, epsilon: epsilon)
        conv1 = try Conv2d(p.scoped("conv1"), inChannels: inChannels, outChannels: outChannels, kernel: 3, padding: 1)
        timeProjection = try timeChannels.map { try Linear(p.scoped("time_emb_proj"), inFeatures: $0, outFeatures: outChannels) }
        norm2 = try GroupNorm(p.scoped("norm2"), groups: groups, channels: outChannels, epsilon: epsilon)
        conv2 = try Conv2d(p.scoped("conv2"), inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1)
        shortcut = inChannels == outChannels ? nil
            : try Conv2d(p.scoped("conv_shortcut"), inChannels: inChannels, outChannels: outChannels, kernel: 1)
    }

    /// `timeEmbedding`: [batch, timeChannels], already through SiLU.
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor?) -> Tensor {
        // The time shift and the skip connection are added inside the convolutions' GEMMs.
        var shift: Tensor? = nil
        if let timeProjection, let timeEmbedding {
            let t = timeProjection(timeEmbedding)
            shift = t.reshaped(t.shape + [1, 1])
        }
        let h = conv1(norm1(x, followedBySiLU: true), adding: shift)
        return conv2(norm2(h, followedBySiLU: true), adding: shortcut?(x) ?? x)
    }
}

/// diffusers' `Attention` as the UNet uses it: bias-free q/k/v projections, an output projection with bias.
struct AttentionLayer: Sendable {
    var query: Linear, key: Linear, value: Linear, out: Linear
    let heads: Int

    init(_ p: ScopedParameters, width: Int, contextWidth: Int, heads: Int) throws {
        query = try Linear(p.scoped("to_q"), inFeatures: width, outFeatures: width, bias: false)
        key = try Linear(p.scoped("to_k"), inFeatures: contextWidth, outFeatures: width, bias: false)
        value = try Linear(p.scoped("to_v"), inFeatures: contextWidth, outFeatures: width, bias: false)
        out = try Linear(p.scoped("to_out.0"), inFeatures: width, outFeatures: width)
        self.heads = heads
    }

    /// x: [batch, tokens, width]; context: [batch, contextTokens, contextWidth] (x itself for self-attention);
    /// `residual` is added to the output (in the output projection's GEMM).
    func callAsFunction(_ x: Tensor, context: Tensor, gates: Tensor?, adding residual: Tensor? = nil) -> Tensor {
        let attended = Attention.scaledDotProduct(
            query: Attention.splitHeads(query(x, gates: gates), heads: heads),
            key: Attention.splitHeads(key(context, gates: gates), heads: heads),
            value: Attention.splitHeads(value(context, gates: gates), heads: heads))
        return out(Attention.mergeHeads(attended), gates: gates, adding: residual)
    }

    mutating func forEachLinear(_ prefix: String, _ body: (String, inout Linear) throws -> Void) rethrows {
        try body(prefix + ".to_q", &query)
        try body(prefix + ".to_k", &key)
        try body(prefix + ".to_v", &value)
        try body(prefix + ".to_out.0", &out)
    }
}

/// diffusers' `BasicTransformerBlock`: self-attention, cross-attention on the text, GEGLU feed-forward, each
/// after a LayerNorm and added back.
struct TransformerBlock: Sendable {
    let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    var selfAttention: AttentionLayer, crossAttention: AttentionLayer
    var geglu: Linear, feedForwardOut: Linear

    init(_ p: ScopedParameters, width: Int, contextWidth: Int, heads: Int) throws {
        norm1 = try LayerNorm(p.scoped("norm1"), features: width)
        selfAttention = try AttentionLayer(p.scoped("attn1"), width: width, contextWidth: width, heads: heads)
        norm2 = try LayerNorm(p.scoped("norm2"), features: width)
        crossAttention = try AttentionLayer(p.scoped("attn2"), width: width, contextWidth: contextWidth, heads: heads)
        norm3 = try LayerNorm(p.scoped("norm3"), features: width)
        geglu = try Linear(p.scoped("ff.net.0.proj"), inFeatures: width, outFeatures: width * 8)
        feedForwardOut = try Linear(p.scoped("ff.net.2"), inFeatures: width * 4, outFeatures: width)
    }

    func callAsFunction(_ x: Tensor, context: Tensor, gates: Tensor?) -> Tensor {
        let normed = norm1(x)
        let attended = selfAttention(normed, context: normed, gates: gates, adding: x)
        let h = crossAttention(norm2(attended), context: context, gates: gates, adding: attended)
        return feedForwardOut(geglu(norm3(h), gates: gates).geglu(), gates: gates, adding: h)
    }

    mutating func forEachLinear(_ prefix: String, _ body: (String, inout Linear) throws -> Void) rethrows {
        try selfAttention.forEachLinear(prefix + ".attn1", body)
        try crossAttention.forEachLinear(prefix + ".attn2", body)
        try body(prefix + ".ff.net.0.proj", &geglu)
        try body(prefix + ".ff.net.2", &feedForwardOut)
    }
}

/// A layer a membrane can adapt: a linear layer, or a 1×1 convolution (SD1.x's transformer projections).
public enum AdaptableLayer: Sendable {
    case linear(Linear)
    case convolution(Conv2d)

    /// (inFeatures, outFeatures).
    public var features: (in: Int, out: Int) {
        switch self {
        case .linear(let linear): return (linear.inFeatures, linear.outFeatures)
        case .convolution(let conv): return (conv.inChannels, conv.outChannels)
        }
    }

    public var adapter: LowRankAdapter? {
        get {
            switch self {
            case .linear(let linear): return linear.adapter
            case .convolution(let conv): return conv.adapter
            }
        }
        set {
            switch self {
            case .linear(var linear):
                linear.adapter = newValue
                self = .linear(linear)
            case .convolution(var conv):
                conv.adapter = newValue
                self = .convolution(conv)
            }
        }
    }
}

/// diffusers' `Transformer2DModel` (continuous input): GroupNorm, projection in (1×1 conv for SD1.x, linear for
/// SD2.x/SDXL), transformer blocks over the H·W tokens, projection out, plus the input.
struct SpatialTransformer: Sendable {
    enum Projection: Sendable {
        case convolution(Conv2d)
        case linear(Linear)
    }

    let norm: GroupNorm
    var projectIn: Projection
    var blocks: [TransformerBlock]
    var projectOut: Projection

    init(_ p: ScopedParameters, channels: Int, contextWidth: Int, heads: Int, depth: Int, groups: Int, linear: Bool) throws {
        norm = try GroupNorm(p.scoped("norm"), groups: groups, channels: channels, epsilon: 1e-6)
        func projection(_ name: String) throws -> Projection {
            linear ? .linear(try Linear(p.scoped(name), inFeatures: channels, outFeatures: channels))
                : .convolution(try Conv2d(p.scoped(name), inChannels: channels, outChannels: channels, kernel: 1))
        }
        projectIn = try projection("proj_in")
        blocks = try (0..<depth).map {
            try TransformerBlock(p.scoped("transformer_blocks.\($0)"), width: channels, contextWidth: contextWidth, heads: heads)
        }
        projectOut = try projection("proj_out")
    }

    func callAsFunction(_ x: Tensor, context: Tensor, gates: Tensor?) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func toTokens(_ image: Tensor) -> Tensor {
            image.reshaped([batch, channels, height * width]).permuted([0, 2, 1])
        }
        func toImage(_ tokens: Tensor) -> Tensor {
            tokens.permuted([0, 2, 1]).contiguous().reshaped([batch, channels, height, width])
        }
        var tokens: Tensor
        switch projectIn {
        case .convolution(let conv): tokens = toTokens(conv(norm(x), gates: gates))
        case .linear(let linear): tokens = linear(toTokens(norm(x)), gates: gates)
        }
        for block in blocks { tokens = block(tokens, context: context, gates: gates) }
        switch projectOut {
        case .convolution(let conv): return conv(toImage(tokens), gates: gates, adding: x)
        case .linear(let linear): return toImage(linear(tokens, gates: gates, adding: toTokens(x)))
        }
    }

    /// Every layer a membrane adapts (METHOD.md §1), by its diffusers path under `prefix`: the projections
    /// (linear, or 1×1 convolutions in SD1.x) and each block's attention and feed-forward linears.
    mutating func forEachAdaptableLayer(_ prefix: String, _ body: (String, inout AdaptableLayer) throws -> Void) rethrows {
        func visit(_ name: String, _ projection: inout Projection) throws {
            switch projection {
            case .convolution(let conv):
                var layer = AdaptableLayer.convolution(conv)
                try body(prefix + "." + name, &layer)
                if case .convolution(let changed) = layer { projection = .convolution(changed) }
            case .linear(let linear):
                var layer = AdaptableLayer.linear(linear)
                try body(prefix + "." + name, &layer)
                if case .linear(let changed) = layer { projection = .linear(changed) }
            }
        }
        try visit("proj_in", &projectIn)
        for index in blocks.indices {
            try blocks[index].forEachLinear(prefix + ".transformer_blocks.\(index)") { path, linear in
                var layer = AdaptableLayer.linear(linear)
                try body(path, &layer)
                if case .linear(let changed) = layer { linear = changed }
            }
        }
        try visit("proj_out", &projectOut)
    }
}

/// Sinusoidal embedding of (possibly fractional) timesteps as diffusers' `get_timestep_embedding`:
/// [count] → [count, dimension], sin then cos halves (cos first when `flipSinToCos`).
func timestepEmbedding(_ timesteps: [Float], dimension: Int, flipSinToCos: Bool, frequencyShift: Float) -> Tensor {
    let half = dimension / 2
    let frequencies = (0..<half).map { Foundation.exp(-Foundation.log(10_000) * Float($0) / (Float(half) - frequencyShift)) }
    return Tensor(shape: [timesteps.count, dimension]) { out in
        for (row, t) in timesteps.enumerated() {
            for i in 0..<half {
                let angle = t * frequencies[i]
                let (first, second) = flipSinToCos ? (Foundation.cos(angle), Foundation.sin(angle)) : (Foundation.sin(angle), Foundation.cos(angle))
                out[row * dimension + i] = first
                out[row * dimension + half + i] = second
            }
            if dimension % 2 == 1 { out[row * dimension + dimension - 1] = 0 }
        }
    }
}
