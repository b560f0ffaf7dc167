import ArgumentParser
import Diffusion

/// `spm-bench conv`: the im2col + sgemm convolution on SD1.5's most common 3×3 conv.
struct ConvBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time Tensor.conv2d for SD1.5's 320→320 3×3 conv at 64×64 (JSON).")

    @Option(help: "Comma-separated thread counts to measure.")
    var threads = "1,2"

    @Option(help: "Timed runs per setting (the median is reported).")
    var repeats = 7

    @Option(help: "Images per batch.")
    var batch = 1

    @Option(help: "Input and output channels.")
    var channels = 320

    @Option(help: "Latent height and width.")
    var size = 64

    struct Row: Encodable {
        let threads: Int
        let medianMilliseconds: Double
        let gflops: Double
    }

    struct Report: Encodable {
        let benchmark = "conv2d 3x3 im2col+sgemm"
        let blasCore: String
        let input: [Int], weight: [Int]
        let padding = 1
        let repeats: Int
        let results: [Row]
    }

    func run() throws {
        let input = benchmarkTensor([batch, channels, size, size], seed: 3)
        let weight = benchmarkTensor([channels, channels, 3, 3], seed: 4)
        let bias = benchmarkTensor([channels], seed: 5)
        let flops = 2 * Double(batch * channels * size * size) * Double(channels * 9)
        var rows: [Row] = []
        for threadCount in parseThreadCounts(threads) {
            ComputeEnvironment.setThreadCount(threadCount)
            let milliseconds = medianMilliseconds(repeats: repeats) {
                _ = Tensor.conv2d(input, weight: weight, bias: bias, padding: 1)
            }
            rows.append(Row(threads: threadCount, medianMilliseconds: milliseconds, gflops: flops / milliseconds / 1e6))
        }
        try printJSON(Report(blasCore: ComputeEnvironment.blasCoreName, input: input.shape, weight: weight.shape,
                             repeats: repeats, results: rows))
    }
}
