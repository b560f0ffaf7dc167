/// diffusers' `AutoencoderKL` (the SD VAE family): images in [-1, 1] ↔ latents. Parameter names mirror diffusers'.
public struct AutoencoderKL: Sendable {
    /// The VAE's single-head self-attention over pixels (mid blocks only), with biases on every projection.
    struct PixelAttention: Sendable {
        let norm: GroupNorm
        let query: Linear, key: Linear, value: Linear, out: Linear

        init(_ p: ScopedParameters, channels: Int, groups: Int) throws {
            norm = try GroupNorm(p.scoped("group_norm"), groups: groups, channels: channels, epsilon: 1e-6)
            query = try Linear(p.scoped("to_q"), inFeatures: channels, outFeatures: channels)
            key = try Linear(p.scoped("to_k"), inFeatures: channels, outFeatures: channels)
            value = try Linear(p.scoped("to_v"), inFeatures: channels, outFeatures: channels)
            out = try Linear(p.scoped("to_out.0"), inFeatures: channels, outFeatures: channels)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let tokens = norm(x).reshaped([batch, channels, height * width]).permuted([0, 2, 1])
            let attended = Attention.scaledDotProduct(
                query: Attention.splitHeads(query(tokens), heads: 1),
                key: Attention.splitHeads(key(tokens), heads: 1),
                value: Attention.splitHeads(value(tokens), heads: 1))
            let projected = out(Attention.mergeHeads(attended))
            return projected.permuted([0, 2, 1]).contiguous().reshaped(x.shape) + x
        }
    }

    struct MidBlock: Sendable {
        let first: ResnetBlock, attention: PixelAttention?, second: ResnetBlock

        init(_ p: ScopedParameters, channels: Int, groups: Int, attention hasAttention: Bool) throws {
            first = try ResnetBlock(p.scoped("resnets.0"), inChannels: channels, outChannels: channels, timeChannels: nil,
                                    groups: groups, epsilon: 1e-6)
            attention = hasAttention ? try PixelAttention(p.scoped("attentions.0"), channels: channels, groups: groups) : nil
            second = try ResnetBlock(p.scoped("resnets.1"), inChannels: channels, outChannels: channels, timeChannels: nil,
                                     groups: groups, epsilon: 1e-6)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = first(x, timeEmbedding: nil)
            return second(attention?(h) ?? h, timeEmbedding: nil)
        }
    }

    struct Level: Sendable {
        var resnets: [ResnetBlock]
        var resample: Conv2d?
    }

    public let configuration: AutoencoderConfiguration
    let encoderConvIn: Conv2d, encoderLevels: [Level], encoderMid: MidBlock
    let encoderNormOut: GroupNorm, encoderConvOut: Conv2d
    let quantConv: Conv2d?, postQuantConv: Conv2d?
    let decoderConvIn: Conv2d, decoderMid: MidBlock, decoderLevels: [Level]
    let decoderNormOut: GroupNorm, decoderConvOut: Conv2d

    public init(configuration: AutoencoderConfiguration, parameters: ParameterReader) throws {
        self.configuration = configuration
        let c = configuration, groups = c.normGroups, channels = c.blockOutChannels
        func resnet(_ p: ScopedParameters, _ inChannels: Int, _ outChannels: Int) throws -> ResnetBlock {
            try ResnetBlock(p, inChannels: inChannels, outChannels: outChannels, timeChannels: nil, groups: groups, epsilon: 1e-6)
        }
        let encoder = parameters.scoped("encoder"), decoder = parameters.scoped("decoder")

        encoderConvIn = try Conv2d(encoder.scoped("conv_in"), inChannels: c.inChannels, outChannels: channels[0], kernel: 3, padding: 1)
        var width = channels[0]
        encoderLevels = try channels.enumerated().map { index, outChannels in
            let p = encoder.scoped("down_blocks.\(index)")
            let resnets = try (0..<c.layersPerBlock).map { layer in
                defer { width = outChannels }
                return try resnet(p.scoped("resnets.\(layer)"), layer == 0 ? width : outChannels, outChannels)
            }
            // Downsampling pads right and bottom by one, then convolves with stride 2 and no padding.
            let downsampler = index == channels.count - 1 ? nil
                : try Conv2d(p.scoped("downsamplers.0.conv"), inChannels: outChannels, outChannels: outChannels,
                             kernel: 3, stride: 2, padding: 0)
            return Level(resnets: resnets, resample: downsampler)
        }
        let deepest = channels[channels.count - 1]
        encoderMid = try MidBlock(encoder.scoped("mid_block"), channels: deepest, groups: groups, attention: c.useMidBlockAttention)
        encoderNormOut = try GroupNorm(encoder.scoped("conv_norm_out"), groups: groups, channels: deepest, epsilon: 1e-6)
        encoderConvOut = try Conv2d(encoder.scoped("conv_out"), inChannels: deepest, outChannels: 2 * c.latentChannels,
                                    kernel: 3, padding: 1)
        quantConv = c.useQuantConv ? try Conv2d(parameters.scoped("quant_conv"), inChannels: 2 * c.latentChannels,
                                                outChannels: 2 * c.latentChannels, kernel: 1) : nil
        postQuantConv = c.useQuantConv ? try Conv2d(parameters.scoped("post_quant_conv"), inChannels: c.latentChannels,
                                                    outChannels: c.latentChannels, kernel: 1) : nil

        decoderConvIn = try Conv2d(decoder.scoped("conv_in"), inChannels: c.latentChannels, outChannels: deepest, kernel: 3, padding: 1)
        decoderMid = try MidBlock(decoder.scoped("mid_block"), channels: deepest, groups: groups, attention: c.useMidBlockAttention)
        width = deepest
        decoderLevels = try channels.reversed().enumerated().map { index, outChannels in
            let p = decoder.scoped("up_blocks.\(index)")
            let resnets = try (0...c.layersPerBlock).map { layer in
                defer { width = outChannels }
                return try resnet(p.scoped("resnets.\(layer)"), layer == 0 ? width : outChannels, outChannels)
            }
            let upsampler = index == channels.count - 1 ? nil
                : try Conv2d(p.scoped("upsamplers.0.conv"), inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1)
            return Level(resnets: resnets, resample: upsampler)
        }
        decoderNormOut = try GroupNorm(decoder.scoped("conv_norm_out"), groups: groups, channels: channels[0], epsilon: 1e-6)
        decoderConvOut = try Conv2d(decoder.scoped("conv_out"), inChannels: channels[0], outChannels: c.outChannels,
                                    kernel: 3, padding: 1)
    }

    /// Pixels per latent cell along each axis.
    public var downscaleFactor: Int { 1 << (configuration.blockOutChannels.count - 1) }

    /// The latent distribution's mean and log-variance for images [batch, 3, H, W] in [-1, 1] (unscaled).
    public func encode(_ images: Tensor) -> (mean: Tensor, logVariance: Tensor) {
        var h = encoderConvIn(images)
        for level in encoderLevels {
            for resnet in level.resnets { h = resnet(h, timeEmbedding: nil) }
            if let downsampler = level.resample { h = downsampler(Self.padRightAndBottom(h)) }
        }
        h = encoderConvOut(encoderNormOut(encoderMid(h), followedBySiLU: true))
        if let quantConv { h = quantConv(h) }
        let latent = configuration.latentChannels
        return (h.narrowed(axis: 1, start: 0, length: latent).contiguous(),
                h.narrowed(axis: 1, start: latent, length: latent).clamped(min: -30, max: 20).contiguous())
    }

    /// Images in [-1, 1] for latents [batch, latentChannels, h, w] (unscaled: divide by the scaling factor first).
    public func decode(_ latents: Tensor) -> Tensor {
        var h = decoderConvIn(postQuantConv?(latents) ?? latents)
        h = decoderMid(h)
        for level in decoderLevels {
            for resnet in level.resnets { h = resnet(h, timeEmbedding: nil) }
            if let upsampler = level.resample { h = upsampler(h.upsampledNearest()) }
        }
        return decoderConvOut(decoderNormOut(h, followedBySiLU: true))
    }

    /// Zero row at the bottom and zero column at the right of [N, C, H, W].
    static func padRightAndBottom(_ x: Tensor) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let wider = Tensor.concat([x, Tensor.zeros([batch, channels, height, 1])], axis: 3)
        return Tensor.concat([wider, Tensor.zeros([batch, channels, 1, width + 1])], axis: 2)
    }
}
