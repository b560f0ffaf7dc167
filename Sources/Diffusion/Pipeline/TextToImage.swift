import Foundation

/// One text-to-image run: what diffusers' `StableDiffusionPipeline` / `StableDiffusionXLPipeline` take.
public struct GenerationRequest: Sendable {
    public var prompt: String
    /// nil: the empty prompt (SD1.x/2.x) or zero embeddings (SDXL base), as diffusers does.
    public var negativePrompt: String?
    public var steps: Int
    public var guidance: Float
    public var width: Int
    public var height: Int
    public var seed: UInt64
    public var scheduler: SchedulerKind
    /// DDIM's η (0: deterministic).
    public var eta: Double
    /// Skip this many final text-encoder layers (diffusers' `clip_skip`).
    public var clipSkip: Int?
    /// Start from this noise [1, 4, h, w] instead of the seed's (scaled by the scheduler's initial sigma, as
    /// diffusers' `latents=` argument is).
    public var initialLatents: Tensor?
    /// One gate per adapter attached to the UNet (`UNet2DConditionModel.attaching`), the same for every sample
    /// of the run; nil runs the frozen model alone.
    public var adapterGates: [Float]?
    /// The prompt's conditioning given directly (diffusers' `prompt_embeds`), e.g. one an attack optimised; the
    /// prompt text is then not encoded (it still names the run in the infotext).
    public var promptConditioning: PromptConditioning?
    /// Prompts past 75 tokens: cut (diffusers) or encoded in windows (AUTOMATIC1111, ComfyUI).
    public var longPrompts: LongPromptHandling = .truncate

    public init(prompt: String, negativePrompt: String? = nil, steps: Int = 30, guidance: Float = 7.5,
                width: Int, height: Int, seed: UInt64 = 0, scheduler: SchedulerKind = .ddim, eta: Double = 0,
                clipSkip: Int? = nil, initialLatents: Tensor? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.seed = seed
        self.scheduler = scheduler
        self.eta = eta
        self.clipSkip = clipSkip
        self.initialLatents = initialLatents
    }
}

/// What generation does with prompt tokens past the text encoder's 75.
public enum LongPromptHandling: String, Sendable, CaseIterable, Codable {
    /// Cut them, as diffusers does.
    case truncate
    /// Encode the prompt in 75-token windows and concatenate their states, as AUTOMATIC1111 and ComfyUI do.
    case chunk
}

extension Tensor {
    /// A [1, tokens, width] conditioning lengthened to `tokens` by repeating `window` ([1, n, width]) after it.
    func padded(toTokens tokens: Int, with window: Tensor) -> Tensor {
        let missing = tokens - shape[1]
        guard missing > 0 else { return self }
        precondition(missing % window.shape[1] == 0, "padded(toTokens:): \(missing) tokens are not whole windows of \(window.shape[1])")
        return Tensor.concat([self] + Array(repeating: window, count: missing / window.shape[1]), axis: 1)
    }
}

extension GenerationRequest {
    /// AUTOMATIC1111's infotext (the PNG `parameters` chunk): prompt, negative prompt, then "Key: value" pairs.
    /// `extra` pairs (e.g. the membranes used) follow the standard ones.
    public func infotext(modelName: String, extra: [(key: String, value: String)] = []) -> String {
        var lines = [prompt]
        if let negativePrompt { lines.append("Negative prompt: \(negativePrompt)") }
        var settings = ["Steps: \(steps)", "Sampler: \(scheduler.rawValue)", "CFG scale: \(guidance)", "Seed: \(seed)",
                        "Size: \(width)x\(height)", "Model: \(modelName)"]
        if let clipSkip { settings.append("Clip skip: \(clipSkip + 1)") }
        if initialLatents != nil { settings.append("Initial noise: given") }
        settings += extra.map { "\($0.key): \($0.value)" }
        lines.append(settings.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

/// A prompt as the UNet sees it.
public struct PromptConditioning: Sendable {
    /// [1, 77, crossAttentionDim].
    public var context: Tensor
    /// SDXL's pooled text embedding [1, pooledWidth]; nil for SD1.x/2.x.
    public var pooled: Tensor?

    public init(context: Tensor, pooled: Tensor?) {
        self.context = context
        self.pooled = pooled
    }
}

public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case invalidSize(width: Int, height: Int, multiple: Int)
    case invalidSteps(Int)
    case latentShape(given: [Int], expected: [Int])
    case cancelled

    public var description: String {
        switch self {
        case .invalidSize(let width, let height, let multiple):
            return "size \(width)×\(height): width and height must be positive multiples of \(multiple)"
        case .invalidSteps(let steps):
            return "steps \(steps): expected at least 1"
        case .latentShape(let given, let expected):
            return "initial latents have shape \(given), expected \(expected) for this size"
        case .cancelled:
            return "generation cancelled"
        }
    }
}

extension PipelineModels {
    /// The size the model was trained at (the UNet's sample size in pixels).
    public var nativeImageSize: Int { vae.downscaleFactor * (unet.configuration.sampleSize ?? 64) }

    /// Pixels per latent cell times the UNet's own downsampling: image sides must be multiples of this.
    public var sizeMultiple: Int { vae.downscaleFactor * unet.spatialMultiple }

    /// The conditioning for `prompt`, as diffusers' `encode_prompt` (`.truncate`), or with every 75-token window
    /// encoded and the states concatenated (`.chunk`, AUTOMATIC1111's and ComfyUI's way; SDXL's pooled embedding
    /// then comes from the first window, as theirs does).
    public func encode(prompt: String, clipSkip: Int? = nil, longPrompts: LongPromptHandling = .truncate) -> PromptConditioning {
        func windows(_ tokenizer: CLIPTokenizer) -> [[Int]] {
            (longPrompts == .chunk ? tokenizer.encodeChunks(prompt) : [tokenizer.encode(prompt)]).map { $0.ids.map(Int.init) }
        }
        let ids = windows(tokenizer)
        let first = textEncoder(tokenIDs: ids)
        // Windows side by side along the token axis: [windows, 77, width] is [1, windows·77, width] in memory.
        func joined(_ states: Tensor) -> Tensor { states.contiguous().reshaped([1, states.shape[0] * states.shape[1], states.shape[2]]) }
        guard let tokenizer2, let textEncoder2 else {
            // SD1.x/2.x: the last layer after the final norm, or an earlier layer through the same norm.
            let hidden = clipSkip.map { first.hiddenStates[first.hiddenStates.count - 1 - $0] }
            return PromptConditioning(context: joined(hidden.map { textEncoder.finalLayerNorm($0) } ?? first.lastHiddenState), pooled: nil)
        }
        // SDXL: both encoders' penultimate layers (or earlier with clip skip), side by side; pooled from the second.
        var ids2 = windows(tokenizer2)
        ids2 = ids.indices.map { $0 < ids2.count ? ids2[$0] : tokenizer2.encode("").ids.map(Int.init) }
        let second = textEncoder2(tokenIDs: ids2)
        let layer = 2 + (clipSkip ?? 0)
        let context = Tensor.concat([first.hiddenStates[first.hiddenStates.count - layer],
                                     second.hiddenStates[second.hiddenStates.count - layer]], axis: 2)
        return PromptConditioning(context: joined(context), pooled: second.projected?.narrowed(axis: 0, start: 0, length: 1))
    }

    /// Generates one image; `progress(step, steps)` is called after each step and returns false to cancel.
    public func generate(_ request: GenerationRequest, progress: (Int, Int) -> Bool = { _, _ in true }) throws -> (image: RGBImage, latents: Tensor) {
        let multiple = sizeMultiple
        guard request.width > 0, request.height > 0, request.width % multiple == 0, request.height % multiple == 0 else {
            throw GenerationError.invalidSize(width: request.width, height: request.height, multiple: multiple)
        }
        guard request.steps >= 1 else { throw GenerationError.invalidSteps(request.steps) }
        let schedule = try makeNoiseSchedule(request.scheduler, config: scheduler, steps: request.steps, eta: request.eta)
        var generator = TorchGenerator(seed: request.seed)
        let latentShape = [1, unet.configuration.inChannels, request.height / vae.downscaleFactor, request.width / vae.downscaleFactor]
        if let given = request.initialLatents, given.shape != latentShape {
            throw GenerationError.latentShape(given: given.shape, expected: latentShape)
        }
        let noise = request.initialLatents ?? Tensor(generator.randn(count: latentShape.reduce(1, *)), shape: latentShape)
        var latents = noise * Float(schedule.initNoiseSigma)

        var positive = request.promptConditioning
            ?? encode(prompt: request.prompt, clipSkip: request.clipSkip, longPrompts: request.longPrompts)
        let guided = request.guidance > 1
        var context = positive.context, pooled = positive.pooled
        if guided {
            var negative: PromptConditioning
            if request.negativePrompt == nil && zeroEmbeddingsForMissingNegative {
                negative = PromptConditioning(context: Tensor.zeros(positive.context.shape), pooled: positive.pooled.map { Tensor.zeros($0.shape) })
            } else {
                negative = encode(prompt: request.negativePrompt ?? "", clipSkip: request.clipSkip, longPrompts: request.longPrompts)
            }
            // Prompt and negative prompt of different lengths (chunked windows): the shorter gets windows of the
            // empty prompt, as AUTOMATIC1111 pads them, so the two batch.
            let length = max(positive.context.shape[1], negative.context.shape[1])
            if positive.context.shape[1] != negative.context.shape[1] {
                let empty = encode(prompt: "", clipSkip: request.clipSkip).context
                positive.context = positive.context.padded(toTokens: length, with: empty)
                negative.context = negative.context.padded(toTokens: length, with: empty)
                context = positive.context
            }
            // diffusers batches [unconditional, conditional].
            context = Tensor.concat([negative.context, positive.context], axis: 0)
            pooled = pooled.map { Tensor.concat([negative.pooled ?? Tensor.zeros($0.shape), $0], axis: 0) }
        }
        let batch = guided ? 2 : 1
        let added = pooled.map { pooledText in
            // (original size, crop top-left, target size): the defaults diffusers uses for a plain generation.
            let ids: [Float] = [Float(request.height), Float(request.width), 0, 0, Float(request.height), Float(request.width)]
            return UNet2DConditionModel.AddedConditions(pooledText: pooledText,
                                                        timeIDs: Tensor(Array(repeating: ids, count: batch).flatMap { $0 }, shape: [batch, 6]))
        }

        let gates = request.adapterGates.map { gates in
            Tensor(Array(repeating: gates, count: batch).flatMap { $0 }, shape: [batch, gates.count])
        }
        var previousDenoised: Tensor?
        for step in 0..<schedule.stepCount {
            let input = latents * Float(schedule.modelInputScale(step: step))
            let modelInput = guided ? Tensor.concat([input, input], axis: 0) : input
            let t = Float(schedule.timesteps[step])
            var output = unet(modelInput, timesteps: Array(repeating: t, count: batch), context: context, added: added,
                              gates: gates)
            if guided {
                let unconditional = output.narrowed(axis: 0, start: 0, length: 1)
                let conditional = output.narrowed(axis: 0, start: 1, length: 1)
                output = unconditional + (conditional - unconditional) * request.guidance
            }
            let stepped = schedule.advance(latents, output: output, step: step, previousDenoised: previousDenoised) {
                Tensor(generator.randn(count: latents.elementCount), shape: latents.shape)
            }
            previousDenoised = stepped.denoised
            latents = stepped.latents
            guard progress(step + 1, schedule.stepCount) else { throw GenerationError.cancelled }
        }
        return (image: RGBImage(unitImage: decodeToUnitImages(latents)), latents: latents)
    }

    /// Latents → images in [0, 1], [batch, 3, H, W] (the VAE's scaling and shift undone first).
    public func decodeToUnitImages(_ latents: Tensor) -> Tensor {
        let c = vae.configuration
        let decoded = vae.decode(latents / c.scalingFactor + c.shiftFactor)
        return (decoded * 0.5 + 0.5).clamped(min: 0, max: 1)
    }
}

extension RGBImage {
    /// The first image of a [batch, 3, H, W] tensor in [0, 1], rounded to 8 bits as diffusers' `numpy_to_pil`.
    public init(unitImage tensor: Tensor) {
        let (height, width) = (tensor.shape[2], tensor.shape[3])
        let planes = tensor.narrowed(axis: 0, start: 0, length: 1).contiguous().toArray()
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for channel in 0..<3 {
            for index in 0..<(width * height) {
                pixels[index * 3 + channel] = UInt8((planes[channel * width * height + index] * 255).rounded())
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}
