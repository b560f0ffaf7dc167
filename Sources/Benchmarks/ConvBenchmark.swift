import ArgumentParser
import Diffusion

/// `spm-bench conv`: SD1.5's most common 3×3 conv on each backend (im2col + OpenBLAS sgemm, oneDNN).
struct ConvBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time conv2d for SD1.5's 320→320 3×3 conv at 64×64 on each backend (JSON).")

    @Option(help: "Comma-separated backends to measure: openblas, onednn.")
    var backend = "openblas,onednn"

    @Option(help: "Comma-separated thread counts to measure.")
    var threads = "1,2"

    @Option(help: "Timed runs per setting (the median is reported).")
    var repeats = 7

    @Option(help: "Images per batch.")
    var batch = 1

    @Option(help: "Input and output channels.")
    var channels = 320

    @Option(help: "Kernel size: 3 (padding 1) or 1 (SD's 1×1 projections and shortcuts, padding 0).")
    var kernel = 3

    @Option(help: "Latent height and width.")
    var size = 64

    struct Row: Encodable {
        let backend: String
        let threads: Int
        let medianMilliseconds: Double
        let gflops: Double
    }

    struct Report: Encodable {
        let benchmark = "conv2d"
        let blasCore: String
        let input: [Int], weight: [Int]
        let padding: Int
        let repeats: Int
        let results: [Row]
    }

    func run() throws {
        let input = benchmarkTensor([batch, channels, size, size], seed: 3)
        let weight = benchmarkTensor([channels, channels, kernel, kernel], seed: 4)
        let bias = benchmarkTensor([channels], seed: 5)
        let flops = 2 * Double(batch * channels * size * size) * Double(channels * kernel * kernel)
        let backends = try backend.split(separator: ",").map { name in
            guard let backend = ComputeBackend(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--backend \(name): expected openblas or onednn")
            }
            return backend
        }
        var rows: [Row] = []
        for backend in backends {
            // One layer's weight cache, as a Conv2d holds: oneDNN reorders the weights in the warm-up run.
            let oneDNNWeights = OneDNNWeightCache()
            for threadCount in parseThreadCounts(threads) {
                ComputeEnvironment.setThreadCount(threadCount)
                let milliseconds = medianMilliseconds(repeats: repeats) {
                    _ = Tensor.conv2d(input, weight: weight, bias: bias, stride: 1, padding: SpatialPair(integerLiteral: kernel / 2), backend: backend,
                                      oneDNNWeights: oneDNNWeights)
                }
                rows.append(Row(backend: backend.rawValue, threads: threadCount, medianMilliseconds: milliseconds,
                                gflops: flops / milliseconds / 1e6))
            }
        }
        try printJSON(Report(blasCore: ComputeEnvironment.blasCoreName, input: input.shape, weight: weight.shape,
                             padding: kernel / 2,
                             repeats: repeats, results: rows))
    }
}
