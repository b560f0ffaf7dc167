import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-bench train`: seconds per training iteration of the SPM objective with the reference's settings
/// (rank 1, 4 isotropic anchors, 30 denoising steps, CFG 3 in the partial denoise), on a model built from a
/// config folder with seeded random weights, with the UNet samples each iteration ran and the peak RSS.
struct TrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time training iterations on a model with random weights (JSON).")

    @Option(help: "A diffusers config folder (configs only), or sd15 / sd21 / sdxl for the bundled configs.")
    var model = "benchmarks/models/tiny-sd1-reference"

    @Option(help: "Training image side in pixels.")
    var resolution: Int?

    @Option(help: "Dynamic resolution as MIN,MAX (step 64), drawn per iteration as the reference's buckets.")
    var dynamic: String?

    @Option(help: "Timed iterations (after one warm-up iteration).")
    var iterations = 10

    @Option(help: "Threads.")
    var threads = 2

    @Option(help: "fp32 or bf16 (train.precision: the forward passes' products in bf16 on oneDNN).")
    var precision: ComputePrecision = .fp32

    @Flag(help: "Recompute UNet block activations in the backward pass (train.checkpoint_activations).")
    var checkpointActivations = false

    @Option(help: "Steps sharing one partial-denoise trajectory (train.steps_per_trajectory); time a multiple of it.")
    var stepsPerTrajectory = 1

    struct Report: Encodable {
        let benchmark = "spm training iteration"
        let precision: String
        let model: String
        let unetParameters: Int
        let sizes: [Int]
        let stepsPerTrajectory: Int
        let iterations: Int
        let threads: Int
        let meanSeconds: Double
        let secondsPerIteration: [Double]
        let meanUNetSamples: Double
        let peakRSSGiB: Double
    }

    func run() throws {
        ComputeEnvironment.setThreadCount(threads)
        ComputeEnvironment.setPrecision(precision)
        let folder = try bundledArchitecture(model)
            .map { try PipelineModels.bundledConfigFolder($0) } ?? URL(fileURLWithPath: model)
        let models = try PipelineModels.randomWeights(configFolder: folder, seed: 1, layerWeights: precision)
        let family: ModelFamily = models.architecture == .sdxl ? .sdxl : models.architecture == .sd2 ? .sd2 : .sd1
        // One warm-up step, then the timed ones from the next trajectory's first step, so that they cover whole
        // groups when `iterations` is a multiple of the sharing.
        let firstTimed = stepsPerTrajectory
        var schedule = TrainingSchedule(iterations: firstTimed + iterations, warmupSteps: 0,
                                        precision: precision, checkpointActivations: checkpointActivations,
                                        stepsPerTrajectory: stepsPerTrajectory, seed: 1)
        if let dynamic {
            let bounds = dynamic.split(separator: ",").compactMap { Int($0) }
            guard bounds.count == 2 else { throw ValidationError("--dynamic \(dynamic): expected MIN,MAX") }
            schedule.dynamicResolution = DynamicResolution(min: bounds[0], max: bounds[1])
        } else {
            schedule.resolution = resolution ?? models.nativeImageSize
        }
        let config = TrainingConfig(model: ModelSource(path: folder.path, family: family),
                                    concepts: [ConceptEntry(target: "a photo of a dog")], train: schedule)
        var trainer = try MembraneTrainer(config: config, models: models)
        trainer.runsSampleGroupsSideBySide = true  // nothing else runs in this process
        let clock = ContinuousClock()
        var seconds: [Double] = []
        var samples: [Int] = []
        _ = try trainer.step()  // warms caches and allocators
        var skipped = trainer.state
        skipped.step = firstTimed
        try trainer.resume(from: skipped)
        for _ in 0..<iterations {
            var result: MembraneTrainer.StepResult?
            let elapsed = try clock.measure { result = try trainer.step() }
            guard let result else { continue }
            seconds.append(elapsed.seconds)
            // The guided denoising steps run (2 samples each), the frozen call (positive, neutral, anchors), the
            // membrane call (target, anchors).
            let anchors = config.concepts[0].anchorsPerStep
            samples.append(2 * result.trajectorySteps + (2 + anchors) + (1 + anchors))
        }
        try printJSON(Report(precision: precision.rawValue, model: model, unetParameters: models.loadReport.components.first { $0.name == "unet" }?.appliedParameters ?? 0, sizes: trainer.sizes,
                             stepsPerTrajectory: stepsPerTrajectory, iterations: iterations, threads: threads,
                             meanSeconds: seconds.reduce(0, +) / Double(seconds.count),
                             secondsPerIteration: seconds.map { ($0 * 1000).rounded() / 1000 },
                             meanUNetSamples: Double(samples.reduce(0, +)) / Double(samples.count),
                             peakRSSGiB: peakResidentGiB()))
    }
}
