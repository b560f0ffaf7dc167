import Foundation
import Testing
@testable import Diffusion

/// Whole 10-step generations against diffusers' on tiny random SD1- and SDXL-layout pipelines
/// (tools/golden_pipelines.py): tokenizer, text encoders, seeded noise, every scheduler, CFG, VAE.
@Suite struct PipelineParityTests {
    static func folder(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/pipelines/\(name)")
    }

    /// diffusers' float image [1, H, W, 3] against ours [1, 3, H, W].
    static func maxError(_ ours: Tensor, _ theirs: Tensor) -> Float {
        let permuted = ours.permuted([0, 2, 3, 1]).contiguous()
        #expect(permuted.shape == theirs.shape)
        return zip(permuted.toArray(), theirs.toArray()).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test(arguments: ["sd1", "sdxl"])
    func generationsMatchDiffusers(model: String) throws {
        let folder = Self.folder(model)
        let models = try PipelineModels.load(from: folder)
        #expect(models.unusedTensors.isEmpty, "unread: \(models.unusedTensors.prefix(5))")
        #expect(models.architecture == (model == "sdxl" ? .sdxl : .sd1))
        let golden = try WeightFile.open(folder.appendingPathComponent("images.safetensors"))
        func tensor(_ name: String) throws -> Tensor { Tensor(try golden.floats(name), shape: try golden.info(name).shape) }

        for scheduler in SchedulerKind.allCases {
            let negative = model == "sd1" || scheduler == .euler ? "a dog" : nil
            let request = GenerationRequest(prompt: "a cat painting", negativePrompt: negative, steps: 10, guidance: 5,
                                            width: 32, height: 32, seed: 42, scheduler: scheduler)
            let result = try models.generate(request)
            let error = Self.maxError(models.decodeToUnitImages(result.latents), try tensor(scheduler.rawValue))
            #expect(error <= 2e-3, "\(model) \(scheduler.rawValue): max abs error \(error)")
        }
        let fromLatents = GenerationRequest(prompt: "van gogh", steps: 10, guidance: 5, width: 32, height: 32,
                                            scheduler: .ddim, initialLatents: try tensor("latents"))
        let result = try models.generate(fromLatents)
        let error = Self.maxError(models.decodeToUnitImages(result.latents), try tensor("ddim-latents"))
        #expect(error <= 2e-3, "\(model) from latents: max abs error \(error)")
    }

    /// AUTOMATIC1111/ComfyUI-style long prompts: each 75-token window encoded on its own and the states
    /// concatenated (SDXL: pooled from the first window); a prompt that fits encodes and generates as diffusers'.
    @Test(arguments: ["sd1", "sdxl"])
    func longPromptsAreEncodedWindowByWindow(model: String) throws {
        let models = try PipelineModels.load(from: Self.folder(model))
        let words = (0..<80).map { ["cat", "dog", "van", "gogh"][$0 % 4] }  // one token each
        let long = words.joined(separator: " ")
        let head = models.tokenizer.tokens(long).count
        #expect(head > 75)
        let chunked = models.encode(prompt: long, longPrompts: .chunk)
        let truncated = models.encode(prompt: long)
        let width = truncated.context.shape[2]
        #expect(chunked.context.shape == [1, 154, width])
        // Equal up to rounding: the windows go through the encoder as one batch, and BLAS kernels may sum a
        // batch of two in another order than one prompt alone (OpenBLAS's Haswell kernels do).
        func difference(_ a: Tensor?, _ b: Tensor?) -> Float {
            guard let a, let b, a.shape == b.shape else { return .infinity }
            return zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
        }
        #expect(difference(chunked.context.narrowed(axis: 1, start: 0, length: 77), truncated.context) <= 1e-5)
        // The second window is the words past the first 75 tokens, encoded as a prompt of their own.
        let rest = models.tokenizer.tokens(long).count - 75
        let restText = words.suffix(rest).joined(separator: " ")
        #expect(models.tokenizer.tokens(restText).count == rest)
        let second = models.encode(prompt: restText)
        #expect(difference(chunked.context.narrowed(axis: 1, start: 77, length: 77), second.context) <= 1e-5)
        #expect((chunked.pooled == nil) == (truncated.pooled == nil))
        if chunked.pooled != nil { #expect(difference(chunked.pooled, truncated.pooled) <= 1e-5) }

        // A prompt that fits: the same conditioning and image either way.
        var request = GenerationRequest(prompt: "a cat painting", negativePrompt: model == "sd1" ? "a dog" : nil, steps: 3,
                                        guidance: 5, width: 32, height: 32, seed: 4)
        let plain = try models.generate(request).image
        request.longPrompts = .chunk
        #expect(try models.generate(request).image == plain)
        // A long prompt with a short negative prompt (padded with a window of the empty prompt) generates, and
        // its second window changes the image.
        request.prompt = long
        let windowed = try models.generate(request).image
        request.longPrompts = .truncate
        #expect(try models.generate(request).image != windowed)
    }

    /// A batch of requests with their own prompts, negative prompts, seeds and prompt lengths gives each the image
    /// it gets alone (an ancestral sampler draws each sample's noise from its own generator).
    @Test(arguments: ["sd1", "sdxl"])
    func aBatchGivesEachRequestItsOwnImage(model: String) throws {
        let models = try PipelineModels.load(from: Self.folder(model))
        let long = (0..<80).map { ["cat", "dog", "van", "gogh"][$0 % 4] }.joined(separator: " ")
        for scheduler in [SchedulerKind.ddim, .eulerAncestral] {
            var requests = [
                GenerationRequest(prompt: "a cat painting", negativePrompt: "a dog", steps: 3, guidance: 5, width: 32, height: 32,
                                  seed: 1, scheduler: scheduler),
                GenerationRequest(prompt: "van gogh", steps: 3, guidance: 5, width: 32, height: 32, seed: 2, scheduler: scheduler),
                GenerationRequest(prompt: long, negativePrompt: "a cat", steps: 3, guidance: 5, width: 32, height: 32, seed: 3,
                                  scheduler: scheduler),
            ]
            requests[2].longPrompts = .chunk
            let together = try models.generate(batch: requests)
            for (request, batched) in zip(requests, together) {
                let alone = try models.generate(request)
                let error = zip(alone.latents.toArray(), batched.latents.toArray()).map { abs($0 - $1) }.max() ?? .infinity
                #expect(error <= 1e-4, "\(model) \(scheduler) seed \(request.seed): latents differ by \(error)")
                #expect(zip(alone.image.pixels, batched.image.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
            }
        }
        var other = GenerationRequest(prompt: "x", steps: 4, guidance: 5, width: 32, height: 32)
        #expect(throws: GenerationError.batchDiffers(setting: "steps")) {
            try models.generate(batch: [GenerationRequest(prompt: "x", steps: 3, guidance: 5, width: 32, height: 32), other])
        }
        other.steps = 3
        other.guidance = 1
        #expect(throws: GenerationError.batchDiffers(setting: "guidance")) {
            try models.generate(batch: [GenerationRequest(prompt: "x", steps: 3, guidance: 5, width: 32, height: 32), other])
        }
    }

    /// The same model as a single LDM-named file (tools/golden_single_file.py; diffusers reads it back
    /// identically) gives the same images through the single-file key map.
    @Test func singleFileCheckpointGivesTheFoldersImages() throws {
        let file = Self.folder("sd1-single-file.safetensors")
        let models = try PipelineModels.load(from: file, configFolder: Self.folder("sd1"))
        #expect(models.architecture == .sd1)
        #expect(models.unusedTensors.isEmpty, "unread: \(models.unusedTensors.prefix(5))")
        let golden = try WeightFile.open(Self.folder("sd1").appendingPathComponent("images.safetensors"))
        let request = GenerationRequest(prompt: "a cat painting", negativePrompt: "a dog", steps: 10, guidance: 5,
                                        width: 32, height: 32, seed: 42, scheduler: .euler)
        let images = models.decodeToUnitImages(try models.generate(request).latents)
        let error = Self.maxError(images, Tensor(try golden.floats("euler"), shape: try golden.info("euler").shape))
        #expect(error <= 2e-3, "max abs error \(error)")
    }

    /// SD2.1's layout as it ships (OpenCLIP-style GELU encoder, "!" padding, linear projections, per-level
    /// heads, upcast attention, v-prediction DDIM config), each scheduler from the same given latents.
    @Test func sd2GenerationsFromGivenLatentsMatchDiffusers() throws {
        let folder = Self.folder("sd2")
        let models = try PipelineModels.load(from: folder)
        #expect(models.architecture == .sd2)
        #expect(models.scheduler.predictionType == .vPrediction)
        #expect(models.unet.configuration.upcastAttention)
        #expect(models.unusedTensors.isEmpty, "unread: \(models.unusedTensors.prefix(5))")
        #expect(models.tokenizer.padID != models.tokenizer.endOfTextID, "SD2 pads with \"!\"")
        #expect(models.tokenizer.encode("a cat").ids.last == models.tokenizer.padID)
        let golden = try WeightFile.open(folder.appendingPathComponent("images.safetensors"))
        func tensor(_ name: String) throws -> Tensor { Tensor(try golden.floats(name), shape: try golden.info(name).shape) }
        for scheduler in SchedulerKind.allCases {
            let negative = scheduler == .ddim || scheduler == .dpmSolverMultistep ? "a dog" : nil
            let request = GenerationRequest(prompt: "a cat painting", negativePrompt: negative, steps: 10, guidance: 5,
                                            width: 32, height: 32, seed: 42, scheduler: scheduler,
                                            initialLatents: try tensor("latents"))
            let error = Self.maxError(models.decodeToUnitImages(try models.generate(request).latents),
                                      try tensor(scheduler.rawValue))
            #expect(error <= 2e-3, "sd2 \(scheduler.rawValue): max abs error \(error)")
        }
    }

    /// The SD2 pipeline as one LDM-named file, its OpenCLIP encoder under `cond_stage_model.model.` with the last
    /// layer and projection real SD2 files carry (dropped, as diffusers drops them): the folder's images.
    @Test func sd2SingleFileCheckpointGivesTheFoldersImages() throws {
        let file = Self.folder("sd2-single-file.safetensors")
        let models = try PipelineModels.load(from: file, configFolder: Self.folder("sd2"))
        #expect(models.architecture == .sd2)
        #expect(models.scheduler.predictionType == .vPrediction)
        #expect(models.unusedTensors.isEmpty, "unread: \(models.unusedTensors.prefix(5))")
        #expect(models.loadReport.ignoredTensors == 14, "layer 23 (12 tensors), text_projection, logit_scale")
        let golden = try WeightFile.open(Self.folder("sd2").appendingPathComponent("images.safetensors"))
        func tensor(_ name: String) throws -> Tensor { Tensor(try golden.floats(name), shape: try golden.info(name).shape) }
        for scheduler in [SchedulerKind.eulerAncestral, .dpmSolverMultistep] {
            let request = GenerationRequest(prompt: "a cat painting", negativePrompt: scheduler == .dpmSolverMultistep ? "a dog" : nil,
                                            steps: 10, guidance: 5, width: 32, height: 32, seed: 42, scheduler: scheduler,
                                            initialLatents: try tensor("latents"))
            let error = Self.maxError(models.decodeToUnitImages(try models.generate(request).latents), try tensor(scheduler.rawValue))
            #expect(error <= 2e-3, "sd2 single file \(scheduler.rawValue): max abs error \(error)")
        }
    }

    /// The tiny SDXL pipeline as one SGM-named file (tools/golden_single_file.py; diffusers'
    /// `from_single_file` reads it back to the folder's exact tensors) gives the folder's images. The file is
    /// too small for SDXL's marker tensor, so its layout comes from the config folder, as in diffusers.
    @Test func sdxlSingleFileCheckpointGivesTheFoldersImages() throws {
        let file = Self.folder("sdxl-single-file.safetensors")
        let models = try PipelineModels.load(from: file, configFolder: Self.folder("sdxl"))
        #expect(models.architecture == .sdxl)
        #expect(models.unusedTensors.isEmpty, "unread: \(models.unusedTensors.prefix(5))")
        #expect(models.loadReport.ignoredTensors == 1, "OpenCLIP's logit_scale")
        #expect(models.loadReport.components.map(\.name) == ["unet", "vae", "text_encoder", "text_encoder_2"])
        let stored = try WeightFile.open(file).tensors.count
        #expect(models.loadReport.components.reduce(0) { $0 + $1.appliedTensors } > stored - 1,
                "every stored tensor but logit_scale feeds a parameter (fused q/k/v feed three)")
        let golden = try WeightFile.open(Self.folder("sdxl").appendingPathComponent("images.safetensors"))
        for (scheduler, negative) in [(SchedulerKind.euler, "a dog"), (.dpmSolverMultistep, nil)] {
            let request = GenerationRequest(prompt: "a cat painting", negativePrompt: negative, steps: 10, guidance: 5,
                                            width: 32, height: 32, seed: 42, scheduler: scheduler)
            let images = models.decodeToUnitImages(try models.generate(request).latents)
            let expected = Tensor(try golden.floats(scheduler.rawValue), shape: try golden.info(scheduler.rawValue).shape)
            let error = Self.maxError(images, expected)
            #expect(error <= 2e-3, "sdxl single file \(scheduler.rawValue): max abs error \(error)")
        }
    }

    @Test func refusesSizesTheModelCannotTake() throws {
        let models = try PipelineModels.load(from: Self.folder("sd1"))
        #expect(throws: GenerationError.invalidSize(width: 24, height: 32, multiple: 16)) {
            try models.generate(GenerationRequest(prompt: "x", steps: 1, width: 24, height: 32))
        }
        var calls = 0
        #expect(throws: GenerationError.cancelled) {
            try models.generate(GenerationRequest(prompt: "x", steps: 5, width: 32, height: 32)) { _, _ in
                calls += 1
                return false
            }
        }
        #expect(calls == 1, "cancelling stops after the step that asked")
    }
}
