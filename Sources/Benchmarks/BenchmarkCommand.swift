import ArgumentParser

/// `spm-bench`: measurements for BENCHMARKS.md; the scripts in benchmarks/ call it.
struct BenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spm-bench",
        abstract: "Measure the engine's speed and memory (see benchmarks/ and BENCHMARKS.md).",
        subcommands: [GemmBenchmark.self, ConvBenchmark.self, OpsBenchmark.self, UNetBenchmark.self, GenerateBenchmark.self, MergeBenchmark.self, TrainBenchmark.self]
    )
}
