import Foundation
import Membrane

/// Splits a growing byte stream into complete lines and decodes each as a `TrainingRecord`. A line still being
/// written (no newline yet) waits for the next chunk; a line that is not a record is counted and reported.
public struct TrainingLogParser: Sendable {
    private var pending = Data()
    private var lineNumber = 0

    public init() {}

    public struct Batch: Equatable, Sendable {
        public var records: [TrainingRecord] = []
        /// One-line descriptions of lines that were not records (`line 7: …`).
        public var problems: [String] = []
    }

    public mutating func consume(_ chunk: Data) -> Batch {
        pending.append(chunk)
        var batch = Batch()
        let decoder = JSONDecoder()
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = pending[pending.startIndex..<newline]
            pending = Data(pending[(newline + 1)...])
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == 9 }) { continue }
            do {
                batch.records.append(try decoder.decode(TrainingRecord.self, from: line))
            } catch {
                batch.problems.append("line \(lineNumber): \(TrainingLogParser.describe(error))")
            }
        }
        return batch
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(field): expected a number"
        default: return "expected a JSON object"
        }
    }
}

/// What the monitor knows about a run, folded from its records.
public struct TrainingRun: Sendable {
    public private(set) var records: [TrainingRecord] = []
    public private(set) var problemCount = 0

    public init() {}

    /// Chart points, kept up to date as records arrive rather than rebuilt on every redraw.
    private var erasePoints: [(x: Double, y: Double)] = []
    private var anchorPoints: [(x: Double, y: Double)] = []
    private var lossPoints: [(x: Double, y: Double)] = []

    public mutating func absorb(_ batch: TrainingLogParser.Batch) {
        records += batch.records
        problemCount += batch.problems.count
        for record in batch.records {
            let x = Double(record.step)
            if let erase = record.eraseLoss { erasePoints.append((x, erase)) }
            if let anchor = record.anchorLoss { anchorPoints.append((x, anchor)) }
            lossPoints.append((x, record.loss))
        }
    }

    public var latest: TrainingRecord? { records.last }

    /// The chart's series: erase and anchor losses, and the total loss (series absent from the log are left out).
    public var series: [ChartSeries] {
        [ChartSeries(name: "erase", points: erasePoints), ChartSeries(name: "anchor", points: anchorPoints),
         ChartSeries(name: "loss", points: lossPoints)].filter { !$0.points.isEmpty }
    }

    /// Steps per second over the logged run, from the trainer's own clock (`elapsed_s`); nil without it.
    public var stepsPerSecond: Double? {
        guard let first = records.first(where: { $0.elapsedSeconds != nil }),
              let last = records.last(where: { $0.elapsedSeconds != nil }),
              let start = first.elapsedSeconds, let end = last.elapsedSeconds,
              end > start, last.step > first.step else { return nil }
        return Double(last.step - first.step) / (end - start)
    }

    /// Fraction done, when the trainer logs its total.
    public var progress: Double? {
        guard let latest, let total = latest.totalSteps, total > 0 else { return nil }
        return Double(latest.step) / Double(total)
    }

    /// Seconds left, from the logged rate and total.
    public var secondsRemaining: Double? {
        guard let latest, let total = latest.totalSteps, let rate = stepsPerSecond, rate > 0 else { return nil }
        return Double(max(0, total - latest.step)) / rate
    }
}
