import ArgumentParser
import Diffusion
import Foundation

extension ComputePrecision: ExpressibleByArgument {}

/// `spm-bench unet`: one UNet forward of a full-size model built from its real config with seeded random
/// weights (no checkpoint needed), timed, with the process's peak resident memory.
struct UNetBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Time one UNet forward (or forward+backward) of SD1.5, SD2.1, SDXL or any config folder (random weights) (JSON).")

    @Option(help: "sd15, sd21 or sdxl (the bundled configs), or a diffusers config folder.")
    var model = "sd15"

    @Option(help: "Latent height and width (64 = 512 px for SD1.5; 128 = 1024 px for SDXL).")
    var latent = 64

    @Option(help: "Samples per batch (2 = one classifier-free-guidance step).")
    var batch = 1

    @Option(help: "Timed forwards (the median is reported, after one warm-up).")
    var repeats = 2

    @Option(help: "Threads.")
    var threads = 2

    @Option(help: "Convolution backend: openblas or onednn (default: SPM_COMPUTE, else the default backend).")
    var backend: String?

    @Option(help: "fp32 or bf16 (linear layers and convolutions in bf16 on oneDNN; default: SPM_PRECISION, else fp32).")
    var precision: ComputePrecision?

    @Flag(help: "Time forward+backward as membrane training runs it: a rank-1 adapter on every membrane layer, gates [batch, 1], gradients with respect to the sample and every adapter factor.")
    var backward = false

    @Flag(help: "With --backward: recompute each UNet block's activations in the backward pass (train.checkpoint_activations).")
    var checkpointActivations = false

    struct Report: Encodable {
        let benchmark: String
        let model: String
        let latent: [Int]
        let parameters: Int
        /// Layers with a trainable rank-1 adapter (0 for a forward alone).
        let adaptedLayers: Int
        let threads: Int
        let backend: String
        let precision: String
        let blasCore: String
        let loadSeconds: Double
        let medianSeconds: Double
        let peakRSSGiB: Double
    }

    func run() throws {
        ComputeEnvironment.setThreadCount(threads)
        if let backend {
            guard let chosen = ComputeBackend(rawValue: backend) else {
                throw ValidationError("--backend \(backend): expected openblas or onednn")
            }
            ComputeEnvironment.setBackend(chosen)
        }
        if let precision { ComputeEnvironment.setPrecision(precision) }
        let precisionName = ComputeEnvironment.precision.rawValue
        let folder = try bundledArchitecture(model)
            .map { try PipelineModels.bundledConfigFolder($0) } ?? URL(fileURLWithPath: model)
        let configuration = try UNetConfiguration.load(from: folder.appendingPathComponent("unet/config.json"))
        let clock = ContinuousClock()
        var unet: UNet2DConditionModel?
        let parameters = ParameterReader(randomWithSeed: 1)
        parameters.layerWeightPrecision = ComputeEnvironment.precision
        let load = clock.measure { unet = try? UNet2DConditionModel(configuration: configuration, parameters: parameters) }
        guard let unet else { throw ValidationError("could not build the \(model) UNet") }
        let sample = benchmarkTensor([batch, 4, latent, latent], seed: 2)
        let context = benchmarkTensor([batch, 77, configuration.crossAttentionDim], seed: 3)
        let added = configuration.textTimeEmbedding.map { textTime in
            UNet2DConditionModel.AddedConditions(
                pooledText: benchmarkTensor([batch, textTime.inputDimension - 6 * textTime.timeIdDimension], seed: 4),
                timeIDs: Tensor(Array(repeating: [1024, 1024, 0, 0, 1024, 1024], count: batch).flatMap { $0 }, shape: [batch, 6]))
        }
        let timesteps = [Float](repeating: 500, count: batch)
        let seconds: Double
        var adaptedLayers = 0
        if backward {
            var (adapted, factors) = try attachingRankOneAdapters(to: unet)
            adapted.checkpointsActivations = checkpointActivations
            adaptedLayers = factors.count / 2
            let gates = Tensor.ones([batch, 1])
            let input = sample.requiringGradient()
            let seed = benchmarkTensor(sample.shape, seed: 5)
            seconds = medianMilliseconds(repeats: repeats) {
                let output = adapted(input, timesteps: timesteps, context: context, added: added, gates: gates)
                _ = output.gradients(withRespectTo: [input] + factors, seed: seed)
            } / 1000
        } else {
            seconds = medianMilliseconds(repeats: repeats) {
                _ = unet(sample, timesteps: timesteps, context: context, added: added)
            } / 1000
        }
        let checkpointing = checkpointActivations ? ", activations recomputed per block" : ""
        try printJSON(Report(benchmark: backward ? "unet forward+backward \(precisionName), rank-1 adapters on every membrane layer\(checkpointing)"
                                                 : "unet forward \(precisionName)",
                             model: model, latent: [batch, 4, latent, latent], parameters: parameters.parameterCount, adaptedLayers: adaptedLayers,
                             threads: threads, backend: ComputeEnvironment.backend.rawValue,
                             precision: precisionName, blasCore: ComputeEnvironment.blasCoreName,
                             loadSeconds: load.seconds,
                             medianSeconds: seconds, peakRSSGiB: peakResidentGiB()))
    }
}

/// `unet` with a trainable rank-1 adapter (seeded, small) on every layer a membrane adapts, and the adapter
/// factors (down, up for each layer).
func attachingRankOneAdapters(to unet: UNet2DConditionModel) throws -> (UNet2DConditionModel, [Tensor]) {
    var adapters: [String: LowRankAdapter] = [:]
    var factors: [Tensor] = []
    for (index, layer) in unet.adaptableLayers.enumerated() {
        let seed = UInt64(100 + 2 * index)
        let down = (benchmarkTensor([1, layer.inFeatures], seed: seed) * 0.01).requiringGradient()
        let up = (benchmarkTensor([layer.outFeatures, 1], seed: seed + 1) * 0.01).requiringGradient()
        adapters[layer.path] = LowRankAdapter(down: down, up: up, gateOfRank: [0])
        factors += [adapters[layer.path]!.down, adapters[layer.path]!.up]
    }
    return (try unet.attaching(adapters), factors)
}

/// The process's peak resident set (VmHWM in /proc/self/status), in GiB.
func peakResidentGiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          // "VmHWM:\t  4571234 kB": the padding before the number shrinks to nothing for large values.
          let kilobytes = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
    return kilobytes / (1024 * 1024)
}
