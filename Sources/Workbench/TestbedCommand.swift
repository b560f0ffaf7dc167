import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench testbed …`: the tiny procedural world the workbench ships a model of.
struct TestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "The testbed world and its tiny text-to-image model.",
        subcommands: [TestbedTrainCommand.self, TestbedMeasureCommand.self])
}

/// `spm-workbench testbed train [--out models/testbed] [--seed S] …`.
struct TestbedTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the testbed model from scratch (seeded, reproducible) and write it as a diffusers folder.",
        discussion: """
            Two stages, as Stable Diffusion: an AutoencoderKL on world images (then frozen, its scaling factor set \
            from the latents' spread), then the UNet and CLIP text encoder together on the ε-prediction loss with \
            10% of captions dropped for classifier-free guidance. Progress goes to stderr. The folder is written \
            next to --out and moved into place at the end; an interrupted run leaves the old model untouched.
            """)

    @Option(help: "The diffusers folder to write.")
    var out = "models/testbed"

    @Option(help: "Seed of every draw (world samples, initial weights, batches, noise).")
    var seed: UInt64 = 0

    @Option(help: "Autoencoder training steps.")
    var autoencoderSteps: Int?

    @Option(help: "Reuse the autoencoder of an earlier run of the same recipe (its vae/diffusion_pytorch_model.safetensors) instead of training it again.")
    var autoencoderFrom: String?

    @Option(help: "Denoiser (UNet + text encoder) training steps.")
    var steps: Int?

    @Option(help: "Denoiser batch size.")
    var batch: Int?

    @Option(help: "World samples rendered for training.")
    var poolSize: Int?

    @Option(help: "Denoiser steps between rewrites of the folder (the latest checkpoint stays usable).")
    var checkpointEvery: Int?

    @Option(help: "After training, generate this many images from world captions and report colour and shape accuracy.")
    var measure = 0

    @Option(help: "Threads.")
    var threads = 2

    func run() throws {
        try reportingErrors {
            var options = TestbedTrainingOptions()
            options.seed = seed
            if let autoencoderSteps { options.autoencoderSteps = autoencoderSteps }
            if let steps { options.denoiserSteps = steps }
            if let batch { options.denoiserBatch = batch }
            if let poolSize { options.poolSize = poolSize }
            options.autoencoderFrom = autoencoderFrom.map { URL(fileURLWithPath: $0) }
            if let checkpointEvery { options.checkpointEvery = checkpointEvery }
            guard options.autoencoderSteps > 0, options.denoiserSteps > 0, options.denoiserBatch > 0, options.poolSize > 0,
                  options.checkpointEvery > 0 else {
                throw ValidationError("testbed train: steps, batch and pool size must be positive")
            }
            ComputeEnvironment.setThreadCount(threads)
            let clock = ContinuousClock()
            let start = clock.now
            var lastReport = start
            try TestbedTraining.train(options: options, output: URL(fileURLWithPath: out)) { progress in
                let now = clock.now
                guard progress.step == progress.steps || progress.step == 1 || now - lastReport > .seconds(10) else { return }
                lastReport = now
                let elapsed = (now - start).components.seconds
                FileHandle.standardError.write(Data(String(format: "%@ %d/%d loss %.4f (%ds)\n", progress.stage, progress.step,
                                                           progress.steps, progress.loss, elapsed).utf8))
            }
            print("wrote \(out) in \((clock.now - start).components.seconds) s")
            if measure > 0 { try TestbedMeasureCommand.report(model: out, count: measure) }
        }
    }
}

/// `spm-workbench testbed measure [--model models/testbed] [--count 48]`: the model's quality bar figures.
struct TestbedMeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Generate from world captions (DDIM 20, guidance 7.5) and report how often the detectors find the prompted colour and shape.")

    @Option(help: "A testbed model folder (default: the one shipped in models/testbed).")
    var model: String?

    @Option(help: "Generations (captions of seeded world samples).")
    var count = 48

    @Option(help: "Threads.")
    var threads = 2

    func run() throws {
        try reportingErrors {
            guard count > 0 else { throw ValidationError("testbed measure: --count must be positive") }
            ComputeEnvironment.setThreadCount(threads)
            try Self.report(model: try TUICommand.modelOrShippedTestbed(model), count: count)
        }
    }

    static func report(model: String, count: Int) throws {
        let models = try PipelineModels.load(from: URL(fileURLWithPath: model))
        let roundTrip = TestbedModelQuality.measureRoundTrip(models, count: count)
        print(String(format: "%@: autoencoder round trip of %d world images: colour %.1f%%, shape %.1f%%", model,
                     roundTrip.generations, roundTrip.colourAccuracy * 100, roundTrip.shapeAccuracy * 100))
        let quality = try TestbedModelQuality.measure(models, count: count)
        print(String(format: "%@: %d generations (DDIM 20, guidance 7.5): colour %.1f%%, shape %.1f%%", model,
                     quality.generations, quality.colourAccuracy * 100, quality.shapeAccuracy * 100))
    }
}
