import ArgumentParser
import CBLAS
import Diffusion

/// `spm-bench gemm`: single-precision GEMM throughput on square and Stable Diffusion shapes.
struct GemmBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "sgemm GFLOP/s on square and SD-like shapes, raw cblas_sgemm and through Tensor.matmul (JSON).")

    @Option(help: "Comma-separated thread counts to measure.")
    var threads = "1,2"

    @Option(help: "Timed runs per shape (the median is reported).")
    var repeats = 5

    /// m × k · k × n: square sizes, then SD1.5 attention projections and feed-forward at 64×64 latents.
    static let shapes: [(name: String, m: Int, n: Int, k: Int)] = [
        ("square 1024", 1024, 1024, 1024),
        ("square 2048", 2048, 2048, 2048),
        ("SD 4096x320 · 320x320 (attention projection)", 4096, 320, 320),
        ("SD 4096x320 · 320x1280 (feed-forward up)", 4096, 1280, 320),
        ("SD 4096x1280 · 1280x320 (feed-forward down)", 4096, 320, 1280),
    ]

    struct Row: Encodable {
        let shape: String, m: Int, n: Int, k: Int, threads: Int
        let sgemmMilliseconds: Double, sgemmGFLOPS: Double
        let matmulMilliseconds: Double, matmulGFLOPS: Double
    }

    struct Report: Encodable {
        let benchmark = "gemm"
        let blasCore: String
        let repeats: Int
        let results: [Row]
    }

    func run() throws {
        var rows: [Row] = []
        for threadCount in parseThreadCounts(threads) {
            ComputeEnvironment.setThreadCount(threadCount)
            for shape in Self.shapes {
                let a = benchmarkTensor([shape.m, shape.k], seed: 1), b = benchmarkTensor([shape.k, shape.n], seed: 2)
                let flops = 2 * Double(shape.m) * Double(shape.n) * Double(shape.k)
                // Raw BLAS into a preallocated output: the kernel's own speed.
                var output = [Float](repeating: 0, count: shape.m * shape.n)
                let sgemm = a.withUnsafeBufferPointer { aBuffer in
                    b.withUnsafeBufferPointer { bBuffer in
                        output.withUnsafeMutableBufferPointer { cBuffer in
                            medianMilliseconds(repeats: repeats) {
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                            Int32(shape.m), Int32(shape.n), Int32(shape.k), 1,
                                            aBuffer.baseAddress, Int32(shape.k), bBuffer.baseAddress, Int32(shape.n),
                                            0, cBuffer.baseAddress, Int32(shape.n))
                            }
                        }
                    }
                }
                // The engine's path: includes allocating the result tensor.
                let matmul = medianMilliseconds(repeats: repeats) { _ = Tensor.matmul(a, b) }
                rows.append(Row(shape: shape.name, m: shape.m, n: shape.n, k: shape.k, threads: threadCount,
                                sgemmMilliseconds: sgemm, sgemmGFLOPS: flops / sgemm / 1e6,
                                matmulMilliseconds: matmul, matmulGFLOPS: flops / matmul / 1e6))
            }
        }
        try printJSON(Report(blasCore: ComputeEnvironment.blasCoreName, repeats: repeats, results: rows))
    }
}
