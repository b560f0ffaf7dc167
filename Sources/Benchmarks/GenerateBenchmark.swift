import ArgumentParser
import Diffusion
import Foundation

/// `spm-bench generate`: whole text-to-image generations (prompt encoding, guided denoising steps, VAE decode) on
/// a full-size model built from its real config with seeded random weights — REFERENCE.md's pipeline figures'
/// settings by default (SD1.5, 512 px, 4 Euler steps, guidance 7.5).
struct GenerateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time whole text-to-image generations on SD1.5, SD2.1 or SDXL (random weights from the real config) (JSON).")

    @Option(help: "sd15, sd21 or sdxl (the bundled configs).")
    var model = "sd15"

    @Option(help: "Image side in pixels.")
    var resolution = 512

    @Option(help: "Denoising steps (Euler).")
    var steps = 4

    @Option(help: "Classifier-free guidance scale.")
    var guidance: Float = 7.5

    @Option(help: "Timed generations (the median is reported, after one warm-up).")
    var repeats = 1

    @Option(help: "Threads.")
    var threads = 2

    @Option(help: "fp32 or bf16 (default: SPM_PRECISION, else fp32).")
    var precision: ComputePrecision?

    struct Report: Encodable {
        let benchmark: String
        let model: String
        let resolution: Int
        let steps: Int
        let guidance: Float
        let threads: Int
        let precision: String
        let loadSeconds: Double
        let medianSeconds: Double
        let peakRSSGiB: Double
    }

    func run() throws {
        guard let architecture = bundledArchitecture(model) else {
            throw ValidationError("--model \(model): expected sd15, sd21 or sdxl")
        }
        ComputeEnvironment.setThreadCount(threads)
        if let precision { ComputeEnvironment.setPrecision(precision) }
        let chosen = ComputeEnvironment.precision
        let folder = try PipelineModels.bundledConfigFolder(architecture)
        let clock = ContinuousClock()
        var loaded: PipelineModels?
        let load = try clock.measure {
            loaded = try PipelineModels.randomWeights(configFolder: folder, seed: 1, layerWeights: chosen)
        }
        guard let models = loaded else { throw ValidationError("could not build the \(model) pipeline") }
        let request = GenerationRequest(prompt: "a photograph of an astronaut riding a horse", steps: steps,
                                        guidance: guidance, width: resolution, height: resolution, seed: 1,
                                        scheduler: .euler)
        var failure: Error?
        let milliseconds = medianMilliseconds(repeats: repeats) {
            do { _ = try models.generate(request) } catch { failure = error }
        }
        if let failure { throw failure }
        try printJSON(Report(benchmark: "text to image \(chosen.rawValue)", model: model, resolution: resolution,
                             steps: steps, guidance: guidance, threads: threads, precision: chosen.rawValue,
                             loadSeconds: load.seconds, medianSeconds: milliseconds / 1e3,
                             peakRSSGiB: peakResidentGiB()))
    }
}
