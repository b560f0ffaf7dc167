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
    case batchDiffers(setting: String)
    case cancelled

    public var description: String {
        switch self {
        case .invalidSize(let width, let height, let multiple):
            return "size \(width)×\(height): width and height must be positive multiples of \(multiple)"
        case .invalidSteps(let steps):
            return "steps \(steps): expected at least 1"
        case .latentShape(let given, let expected):
            return "initial latents have shape \(given), expected \(expected) for this size"
        case .batchDiffers(let setting):
            return "a batch of generations must share its \(setting) (generate such requests apart)"
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
            return PromptConditioning(context: joined(singleEncoderContext(first, clipSkip: clipSkip)), pooled: nil)
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

    /// The conditioning for `prompt` with `learned` input vectors [n, width] in the n positions right after
    /// start-of-text (the prompt keeps its first 75 − n tokens): how a textual-inversion embedding written first in
    /// a prompt reaches the UNet, and the space UnlearnDiffAtk searches. Gradients flow back to `learned`. Models
    /// with one text encoder (SD1.x/2.x, the testbed).
    public func encode(prompt: String, prefixedWith learned: Tensor, clipSkip: Int? = nil) -> PromptConditioning {
        let count = learned.shape[0]
        precondition(textEncoder2 == nil && learned.shape == [count, textEncoder.configuration.hiddenSize],
                     "encode(prefixedWith:): one text encoder and [n, \(textEncoder.configuration.hiddenSize)] vectors")
        let ids = tokenizer.encode(prompt, reserving: count).ids.map(Int.init)
        let looked = textEncoder.inputs(tokenIDs: [ids])
        let inputs = Tensor.concat([looked.narrowed(axis: 1, start: 0, length: 1), learned.reshaped([1, count, learned.shape[1]]),
                                    looked.narrowed(axis: 1, start: 1 + count, length: ids.count - 1 - count)], axis: 1)
        return PromptConditioning(context: singleEncoderContext(textEncoder(inputs: inputs, tokenIDs: [ids]), clipSkip: clipSkip),
                                  pooled: nil)
    }

    /// SD1.x/2.x's context: the last layer after the final norm, or an earlier layer through the same norm.
    private func singleEncoderContext(_ output: CLIPTextModel.Output, clipSkip: Int?) -> Tensor {
        let hidden = clipSkip.map { output.hiddenStates[output.hiddenStates.count - 1 - $0] }
        return hidden.map { textEncoder.finalLayerNorm($0) } ?? output.lastHiddenState
    }

    /// Generates one image; `progress(step, steps)` is called after each step and returns false to cancel.
    public func generate(_ request: GenerationRequest, progress: (Int, Int) -> Bool = { _, _ in true }) throws -> (image: RGBImage, latents: Tensor) {
        try generate(batch: [request], progress: progress)[0]
    }

    /// Generates several images in one batch through the UNet, as diffusers does with a list of prompts and
    /// generators: each request keeps its own prompt, negative prompt, seed (its noise, and an ancestral sampler's,
    /// come from its own generator) and gates, so each image is the one it would get alone (up to float summation
    /// order). The requests must share size, steps, scheduler, η and guidance. Requests whose conditionings differ
    /// in length (prompts encoded in more windows) run in separate batches: padding one to another's length would
    /// change what its cross-attention sees.
    public func generate(batch requests: [GenerationRequest], progress: (Int, Int) -> Bool = { _, _ in true }) throws -> [(image: RGBImage, latents: Tensor)] {
        guard let first = requests.first else { return [] }
        let multiple = sizeMultiple
        guard first.width > 0, first.height > 0, first.width % multiple == 0, first.height % multiple == 0 else {
            throw GenerationError.invalidSize(width: first.width, height: first.height, multiple: multiple)
        }
        guard first.steps >= 1 else { throw GenerationError.invalidSteps(first.steps) }
        for request in requests.dropFirst() {
            let differs = [("size", request.width != first.width || request.height != first.height), ("steps", request.steps != first.steps),
                           ("scheduler", request.scheduler != first.scheduler), ("eta", request.eta != first.eta),
                           ("guidance", request.guidance != first.guidance)].first { $0.1 }
            if let differs { throw GenerationError.batchDiffers(setting: differs.0) }
        }
        let sampleShape = [1, unet.configuration.inChannels, first.height / vae.downscaleFactor, first.width / vae.downscaleFactor]
        for request in requests {
            if let given = request.initialLatents, given.shape != sampleShape {
                throw GenerationError.latentShape(given: given.shape, expected: sampleShape)
            }
        }
        // Each request's [negative, prompt] pair; the shorter of the two gets windows of the empty prompt, as
        // AUTOMATIC1111 pads them.
        let guided = first.guidance > 1
        let pairs = requests.map { request -> [PromptConditioning] in
            let positive = request.promptConditioning
                ?? encode(prompt: request.prompt, clipSkip: request.clipSkip, longPrompts: request.longPrompts)
            guard guided else { return [positive] }
            var pair = [positive, positive]
            if request.negativePrompt == nil && zeroEmbeddingsForMissingNegative {
                pair[0] = PromptConditioning(context: Tensor.zeros(positive.context.shape), pooled: positive.pooled.map { Tensor.zeros($0.shape) })
            } else {
                pair[0] = encode(prompt: request.negativePrompt ?? "", clipSkip: request.clipSkip, longPrompts: request.longPrompts)
            }
            let length = pair.map { $0.context.shape[1] }.max()!
            if pair.contains(where: { $0.context.shape[1] != length }) {
                let empty = encode(prompt: "", clipSkip: request.clipSkip).context
                for index in pair.indices { pair[index].context = pair[index].context.padded(toTokens: length, with: empty) }
            }
            return pair
        }
        var lengths: [Int] = []
        for pair in pairs where !lengths.contains(pair[0].context.shape[1]) { lengths.append(pair[0].context.shape[1]) }
        var results = [(image: RGBImage, latents: Tensor)?](repeating: nil, count: requests.count)
        for (group, length) in lengths.enumerated() {
            let members = requests.indices.filter { pairs[$0][0].context.shape[1] == length }
            let sampled = try sample(members.map { requests[$0] }, conditionings: members.map { pairs[$0] }) { step, steps in
                progress(group * steps + step, lengths.count * steps)
            }
            for (index, result) in zip(members, sampled) { results[index] = result }
        }
        return results.map { $0! }
    }

    /// The denoising loop for requests of one batch; `conditionings[i]` is request i's [negative, prompt] (or
    /// [prompt] without guidance), all of one length.
    private func sample(_ requests: [GenerationRequest], conditionings: [[PromptConditioning]],
                        progress: (Int, Int) -> Bool) throws -> [(image: RGBImage, latents: Tensor)] {
        let first = requests[0]
        let schedule = try makeNoiseSchedule(first.scheduler, config: scheduler, steps: first.steps, eta: first.eta)
        var generators = requests.map { TorchGenerator(seed: $0.seed) }
        let sampleShape = [1, unet.configuration.inChannels, first.height / vae.downscaleFactor, first.width / vae.downscaleFactor]
        let sampleCount = sampleShape.reduce(1, *)
        let noise = requests.indices.map { index in
            requests[index].initialLatents ?? Tensor(generators[index].randn(count: sampleCount), shape: sampleShape)
        }
        var latents = Tensor.concat(noise, axis: 0) * Float(schedule.initNoiseSigma)
        let guided = first.guidance > 1
        // diffusers batches [unconditional …, conditional …].
        let ordered = guided ? conditionings.map { $0[0] } + conditionings.map { $0[1] } : conditionings.map { $0[0] }
        let context = Tensor.concat(ordered.map(\.context), axis: 0)
        let pooled = ordered.allSatisfy({ $0.pooled != nil }) ? Tensor.concat(ordered.map { $0.pooled! }, axis: 0) : nil
        let batch = ordered.count
        let added = pooled.map { pooledText in
            // (original size, crop top-left, target size): the defaults diffusers uses for a plain generation.
            let ids: [Float] = [Float(first.height), Float(first.width), 0, 0, Float(first.height), Float(first.width)]
            return UNet2DConditionModel.AddedConditions(pooledText: pooledText,
                                                        timeIDs: Tensor(Array(repeating: ids, count: batch).flatMap { $0 }, shape: [batch, 6]))
        }
        // A request without gates runs the frozen model: gate 0 for every adapter when others in the batch have gates.
        let gateCount = requests.compactMap(\.adapterGates).first?.count
        let gates = gateCount.map { count in
            let rows = requests.map { $0.adapterGates ?? Array(repeating: 0, count: count) }
            return Tensor((guided ? rows + rows : rows).flatMap { $0 }, shape: [batch, count])
        }
        var previousDenoised: Tensor?
        for step in 0..<schedule.stepCount {
            let input = latents * Float(schedule.modelInputScale(step: step))
            let modelInput = guided ? Tensor.concat([input, input], axis: 0) : input
            let t = Float(schedule.timesteps[step])
            var output = unet(modelInput, timesteps: Array(repeating: t, count: batch), context: context, added: added,
                              gates: gates)
            if guided {
                let unconditional = output.narrowed(axis: 0, start: 0, length: requests.count)
                let conditional = output.narrowed(axis: 0, start: requests.count, length: requests.count)
                output = unconditional + (conditional - unconditional) * first.guidance
            }
            let stepped = schedule.advance(latents, output: output, step: step, previousDenoised: previousDenoised) {
                Tensor.concat(generators.indices.map { Tensor(generators[$0].randn(count: sampleCount), shape: sampleShape) }, axis: 0)
            }
            previousDenoised = stepped.denoised
            latents = stepped.latents
            guard progress(step + 1, schedule.stepCount) else { throw GenerationError.cancelled }
        }
        let images = decodeToUnitImages(latents)
        return requests.indices.map { index in
            (image: RGBImage(unitImage: images.narrowed(axis: 0, start: index, length: 1)),
             latents: latents.narrowed(axis: 0, start: index, length: 1).contiguous())
        }
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
