import ArgumentParser
import Diffusion

/// `spm-bench ops`: elementwise, reduction and layout ops on SD1.5-sized activations ([1, 320, 64, 64]).
struct OpsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Time elementwise ops, reductions, softmax and copies on SD1.5-sized tensors (JSON).")

    @Option(help: "Comma-separated thread counts to measure.")
    var threads = "1,2"

    @Option(help: "Timed runs per op (the median is reported).")
    var repeats = 7

    struct Row: Encodable {
        let op: String, threads: Int, medianMilliseconds: Double, elementsPerNanosecond: Double
    }

    struct Report: Encodable {
        let benchmark = "ops"
        let shape: [Int]
        let results: [Row]
    }

    func run() throws {
        let shape = [1, 320, 64, 64]
        let x = benchmarkTensor(shape, seed: 6), y = benchmarkTensor(shape, seed: 7)
        let bias = benchmarkTensor([1, 320, 1, 1], seed: 8)
        let scores = benchmarkTensor([8, 1024, 1024], seed: 9)
        let ops: [(String, Int, () -> Void)] = [
            ("add same shape", x.elementCount, { _ = x + y }),
            ("add per-channel bias", x.elementCount, { _ = x + bias }),
            ("mul scalar", x.elementCount, { _ = x * 0.5 }),
            ("silu", x.elementCount, { _ = x.silu() }),
            ("gelu (erf)", x.elementCount, { _ = x.gelu() }),
            ("mean+variance over 32 groups", x.elementCount, {
                let groups = x.reshaped([1, 32, 10 * 64 * 64])
                _ = groups.mean(axis: -1)
                _ = groups.variance(axis: -1)
            }),
            ("softmax rows of 1024", scores.elementCount, { _ = scores.softmax(axis: -1) }),
            ("permute NCHW→NHWC copy", x.elementCount, { _ = x.permuted([0, 2, 3, 1]).contiguous() }),
        ]
        var rows: [Row] = []
        for threadCount in parseThreadCounts(threads) {
            ComputeEnvironment.setThreadCount(threadCount)
            for (name, elements, body) in ops {
                let milliseconds = medianMilliseconds(repeats: repeats, body)
                rows.append(Row(op: name, threads: threadCount, medianMilliseconds: milliseconds,
                                elementsPerNanosecond: Double(elements) / (milliseconds * 1e6)))
            }
        }
        try printJSON(Report(shape: shape, results: rows))
    }
}
