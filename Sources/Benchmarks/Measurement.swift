import Diffusion
import Foundation

/// Median wall time in milliseconds of `repeats` runs of `body`, after one warm-up run.
func medianMilliseconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    let clock = ContinuousClock()
    let times = (0..<max(repeats, 1)).map { _ in clock.measure(body).seconds * 1e3 }.sorted()
    return times[times.count / 2]
}

extension Duration {
    /// This duration in seconds, for reports.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// The architecture whose bundled configs a `--model` name (sd15, sd21, sdxl) names; nil for any other name.
func bundledArchitecture(_ model: String) -> CheckpointArchitecture? {
    CheckpointArchitecture.allCases.first { $0.bundledConfigName == model }
}

/// Prints `report` as pretty, key-sorted JSON on standard output.
func printJSON<Report: Encodable>(_ report: Report) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
}

/// Seeded uniform values in [-1, 1), so runs are repeatable.
func benchmarkTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed
    return Tensor(shape: shape) { buffer in
        for i in buffer.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            buffer[i] = Float(state >> 40) / Float(1 << 23) - 1
        }
    }
}

/// Thread counts as a comma-separated option ("1,2").
func parseThreadCounts(_ text: String) -> [Int] {
    text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
}
