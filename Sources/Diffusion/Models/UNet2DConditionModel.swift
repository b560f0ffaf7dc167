/// diffusers' `UNet2DConditionModel` for SD1.x, SD2.x and the SDXL family, built from its configuration.
/// Parameter names mirror diffusers' (`down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight`).
public struct UNet2DConditionModel: Sendable {
    /// SDXL's extra conditioning per sample.
    public struct AddedConditions: Sendable {
        /// Pooled text embedding [batch, pooledWidth] (from the second text encoder).
        public var pooledText: Tensor
        /// original height, original width, crop top, crop left, target height, target width: [batch, 6].
        public var timeIDs: Tensor

        public init(pooledText: Tensor, timeIDs: Tensor) {
            self.pooledText = pooledText
            self.timeIDs = timeIDs
        }
    }

    struct Level: Sendable {
        var resnets: [ResnetBlock]
        var attentions: [SpatialTransformer]
        /// Downsampler conv (down path) or upsampler conv (up path); nil on the last level of each path.
        var resample: Conv2d?
    }

    public let configuration: UNetConfiguration
    /// Recompute each resnet and transformer block's activations in the backward pass instead of keeping them
    /// (`Tensor.checkpointed`): training memory falls to about one block's activations, for about a third
    /// more compute. Inference is unaffected (nothing is recorded there).
    public var checkpointsActivations = false
    let timeLinear1: Linear, timeLinear2: Linear
    let addedLinear1: Linear?, addedLinear2: Linear?
    let convIn: Conv2d
    var down: [Level]
    let midResnets: [ResnetBlock]
    var midAttention: SpatialTransformer
    var up: [Level]
    let normOut: GroupNorm
    let convOut: Conv2d

    public init(configuration: UNetConfiguration, parameters: ParameterReader) throws {
        self.configuration = configuration
        let c = configuration
        let p = parameters.scoped("")
        let base = c.downLevels[0].outChannels, timeWidth = c.timeEmbeddingDim
        timeLinear1 = try Linear(p.scoped("time_embedding.linear_1"), inFeatures: base, outFeatures: timeWidth)
        timeLinear2 = try Linear(p.scoped("time_embedding.linear_2"), inFeatures: timeWidth, outFeatures: timeWidth)
        if let added = c.textTimeEmbedding {
            addedLinear1 = try Linear(p.scoped("add_embedding.linear_1"), inFeatures: added.inputDimension, outFeatures: timeWidth)
            addedLinear2 = try Linear(p.scoped("add_embedding.linear_2"), inFeatures: timeWidth, outFeatures: timeWidth)
        } else {
            addedLinear1 = nil
            addedLinear2 = nil
        }
        convIn = try Conv2d(p.scoped("conv_in"), inChannels: c.inChannels, outChannels: base, kernel: 3, padding: 1)

        func resnet(_ scope: ScopedParameters, _ inChannels: Int, _ outChannels: Int) throws -> ResnetBlock {
            try ResnetBlock(scope, inChannels: inChannels, outChannels: outChannels, timeChannels: timeWidth,
                            groups: c.normGroups, epsilon: c.normEpsilon)
        }
        func transformer(_ scope: ScopedParameters, _ level: UNetConfiguration.Level) throws -> SpatialTransformer {
            try SpatialTransformer(scope, channels: level.outChannels, contextWidth: c.crossAttentionDim,
                                   heads: level.attentionHeads, depth: level.transformerDepth, groups: c.normGroups,
                                   linear: c.useLinearProjection)
        }

        var channels = base
        var skipChannels = [base]
        var down: [Level] = []
        for (index, level) in c.downLevels.enumerated() {
            let scope = p.scoped("down_blocks.\(index)")
            var resnets: [ResnetBlock] = [], attentions: [SpatialTransformer] = []
            for layer in 0..<level.layers {
                resnets.append(try resnet(scope.scoped("resnets.\(layer)"), channels, level.outChannels))
                channels = level.outChannels
                if level.hasAttention { attentions.append(try transformer(scope.scoped("attentions.\(layer)"), level)) }
                skipChannels.append(channels)
            }
            let isLast = index == c.downLevels.count - 1
            let downsampler = isLast ? nil : try Conv2d(scope.scoped("downsamplers.0.conv"), inChannels: channels,
                                                        outChannels: channels, kernel: 3, stride: 2,
                                                        padding: c.downsamplePadding)
            if !isLast { skipChannels.append(channels) }
            down.append(Level(resnets: resnets, attentions: attentions, resample: downsampler))
        }
        self.down = down

        let deepest = c.downLevels[c.downLevels.count - 1]
        var midLevel = deepest
        midLevel.transformerDepth = c.midTransformerDepth
        midResnets = try [resnet(p.scoped("mid_block.resnets.0"), channels, channels),
                          resnet(p.scoped("mid_block.resnets.1"), channels, channels)]
        midAttention = try transformer(p.scoped("mid_block.attentions.0"), midLevel)

        var up: [Level] = []
        for (index, level) in c.upLevels.enumerated() {
            let scope = p.scoped("up_blocks.\(index)")
            var resnets: [ResnetBlock] = [], attentions: [SpatialTransformer] = []
            for layer in 0..<level.layers {
                let skip = skipChannels.removeLast()
                resnets.append(try resnet(scope.scoped("resnets.\(layer)"), channels + skip, level.outChannels))
                channels = level.outChannels
                if level.hasAttention { attentions.append(try transformer(scope.scoped("attentions.\(layer)"), level)) }
            }
            let isLast = index == c.upLevels.count - 1
            let upsampler = isLast ? nil : try Conv2d(scope.scoped("upsamplers.0.conv"), inChannels: channels,
                                                      outChannels: channels, kernel: 3, padding: 1)
            up.append(Level(resnets: resnets, attentions: attentions, resample: upsampler))
        }
        self.up = up
        normOut = try GroupNorm(p.scoped("conv_norm_out"), groups: c.normGroups, channels: base, epsilon: c.normEpsilon)
        convOut = try Conv2d(p.scoped("conv_out"), inChannels: base, outChannels: c.outChannels, kernel: 3, padding: 1)
    }

    /// Latent height and width must be divisible by this (each down level halves them).
    public var spatialMultiple: Int { 1 << (configuration.downLevels.count - 1) }

    /// The noise prediction for `sample` [batch, C, H, W] at `timesteps` (one per sample), conditioned on the
    /// text `context` [batch, tokens, crossAttentionDim] (and, for SDXL, `added`).
    /// `gates` [batch, adapters] scale the attached membranes per sample (see `attaching`); nil runs the frozen
    /// model alone.
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor, added: AddedConditions? = nil,
                               gates: Tensor? = nil) -> Tensor {
        let c = configuration
        let batch = sample.shape[0]
        precondition(timesteps.count == batch && context.shape[0] == batch,
                     "UNet: \(batch) samples, \(timesteps.count) timesteps, context \(context.shape)")
        precondition(sample.shape[2] % spatialMultiple == 0 && sample.shape[3] % spatialMultiple == 0,
                     "UNet: latent size \(sample.shape[2])×\(sample.shape[3]) must be divisible by \(spatialMultiple)")
        var embedding = timeLinear2(timeLinear1(timestepEmbedding(timesteps, dimension: c.downLevels[0].outChannels,
                                                                  flipSinToCos: c.flipSinToCos,
                                                                  frequencyShift: c.frequencyShift)).silu())
        if let addedLinear1, let addedLinear2, let textTime = c.textTimeEmbedding {
            guard let added else { preconditionFailure("UNet: this model needs pooled text and time ids (SDXL)") }
            let ids = added.timeIDs.toArray()
            let timeEmbedding = timestepEmbedding(ids, dimension: textTime.timeIdDimension, flipSinToCos: true,
                                                  frequencyShift: 0).reshaped([batch, 6 * textTime.timeIdDimension])
            let input = Tensor.concat([added.pooledText, timeEmbedding], axis: 1)
            embedding = embedding + addedLinear2(addedLinear1(input).silu())
        }
        let activatedEmbedding = embedding.silu()

        // Each block as a function of its own inputs, so it can be checkpointed.
        let checkpointing = checkpointsActivations
        func residual(_ resnet: ResnetBlock, _ x: Tensor) -> Tensor {
            guard checkpointing else { return resnet(x, timeEmbedding: activatedEmbedding) }
            return Tensor.checkpointed([x, activatedEmbedding]) { resnet($0[0], timeEmbedding: $0[1]) }
        }
        func transformer(_ attention: SpatialTransformer, _ x: Tensor) -> Tensor {
            guard checkpointing else { return attention(x, context: context, gates: gates) }
            return Tensor.checkpointed([x, context]) { attention($0[0], context: $0[1], gates: gates) }
        }
        var h = convIn(sample)
        var skips = [h]
        for level in down {
            for (layer, resnet) in level.resnets.enumerated() {
                h = residual(resnet, h)
                if !level.attentions.isEmpty { h = transformer(level.attentions[layer], h) }
                skips.append(h)
            }
            if let downsampler = level.resample {
                h = downsampler(h)
                skips.append(h)
            }
        }
        h = residual(midResnets[0], h)
        h = transformer(midAttention, h)
        h = residual(midResnets[1], h)
        for level in up {
            for (layer, resnet) in level.resnets.enumerated() {
                h = residual(resnet, Tensor.concat([h, skips.removeLast()], axis: 1))
                if !level.attentions.isEmpty { h = transformer(level.attentions[layer], h) }
            }
            if let upsampler = level.resample { h = upsampler(h.upsampledNearest()) }
        }
        return convOut(normOut(h, followedBySiLU: true))
    }

    // MARK: Membranes

    /// Visits every layer a membrane adapts, by diffusers path (`down_blocks.1.attentions.0.proj_in`, …).
    mutating func forEachAdaptableLayer(_ body: (String, inout AdaptableLayer) throws -> Void) rethrows {
        for level in down.indices {
            for index in down[level].attentions.indices {
                try down[level].attentions[index].forEachAdaptableLayer("down_blocks.\(level).attentions.\(index)", body)
            }
        }
        try midAttention.forEachAdaptableLayer("mid_block.attentions.0", body)
        for level in up.indices {
            for index in up[level].attentions.indices {
                try up[level].attentions[index].forEachAdaptableLayer("up_blocks.\(level).attentions.\(index)", body)
            }
        }
    }

    /// The layers a membrane adapts: diffusers path, input and output features, and whether it is a 1×1 conv.
    public var adaptableLayers: [(path: String, inFeatures: Int, outFeatures: Int, isConvolution: Bool)] {
        var copy = self
        var layers: [(path: String, inFeatures: Int, outFeatures: Int, isConvolution: Bool)] = []
        copy.forEachAdaptableLayer { path, layer in
            if case .convolution = layer { layers.append((path, layer.features.in, layer.features.out, true)) }
            else { layers.append((path, layer.features.in, layer.features.out, false)) }
        }
        return layers
    }

    /// This model with `adapters` attached (by diffusers path; every other adaptable layer gets none). The
    /// frozen weights are shared, not copied, and stay bit-identical: detaching is attaching nothing.
    public func attaching(_ adapters: [String: LowRankAdapter]) throws -> UNet2DConditionModel {
        var model = self
        var unused = Set(adapters.keys)
        try model.forEachAdaptableLayer { path, layer in
            guard let adapter = adapters[path] else {
                layer.adapter = nil
                return
            }
            let features = layer.features
            guard adapter.down.shape[1] == features.in, adapter.up.shape[0] == features.out else {
                throw AdapterError.misShaped(path: path, expected: [features.out, features.in],
                                             found: [adapter.up.shape[0], adapter.down.shape[1]])
            }
            layer.adapter = adapter
            unused.remove(path)
        }
        if let path = unused.sorted().first { throw AdapterError.noSuchLayer(path: path) }
        return model
    }

    /// This model with the adapters folded into the weights, W ← W + Σ_i g_i·ΔW_i (fp32), and none attached:
    /// what baking a membrane into a checkpoint computes.
    public func folding(_ adapters: [String: LowRankAdapter], gates: [Float]) throws -> UNet2DConditionModel {
        var model = try attaching(adapters)
        model.forEachAdaptableLayer { _, layer in
            guard let adapter = layer.adapter else { return }
            let rankGates = adapter.rankGates(Tensor(gates, shape: [1, gates.count])).reshaped([1, adapter.rank])
            let delta = Tensor.matmul(adapter.up * rankGates, adapter.down)  // [out, in]
            switch layer {
            case .linear(var linear):
                linear.weight = linear.weight + delta
                linear.adapter = nil
                layer = .linear(linear)
            case .convolution(let conv):
                var folded = conv
                let weight = conv.weight
                folded.weight = weight + delta.reshaped(weight.shape)
                folded.adapter = nil
                layer = .convolution(folded)
            }
        }
        return model
    }
}

/// An adapter that does not fit the model: one line naming the layer.
public enum AdapterError: Error, Equatable, CustomStringConvertible {
    case noSuchLayer(path: String)
    case misShaped(path: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .noSuchLayer(let path):
            return "layer \(path): the model has no such adaptable layer (a membrane for another model?)"
        case .misShaped(let path, let expected, let found):
            return "layer \(path): the membrane is \(found[0])×\(found[1]) (out × in), the model's layer \(expected[0])×\(expected[1])"
        }
    }
}
