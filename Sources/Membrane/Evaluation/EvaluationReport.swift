import Diffusion
import Foundation

/// An evaluation as people read it: headline figures, tables, a heat map, before/after pictures with the gates
/// each membrane got, and the training run's loss curve. `EvaluationReportWriter` writes it as an HTML page with
/// its PNGs and `report.json` — this value, so every number the page shows is in the JSON.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// How a number is shown: a share in [0, 1] as a percentage, or as it is.
    public enum Format: String, Codable, Sendable {
        case percent, number

        /// The value as the page and the workbench show it: "95.0%", "0.03418", "–" when missing.
        public func text(_ value: Double?) -> String {
            guard let value else { return "–" }
            return self == .percent ? String(format: "%.1f%%", 100 * value) : String(format: "%.4g", value)
        }
    }

    public struct Figure: Codable, Sendable, Equatable {
        public var name: String
        /// nil when it could not be measured (e.g. preservation when the base model got nothing right).
        public var value: Double?
        public var format: Format

        public init(_ name: String, _ value: Double?, _ format: Format = .percent) {
            self.name = name
            self.value = value
            self.format = format
        }
    }

    public struct Table: Codable, Sendable, Equatable {
        public struct Row: Codable, Sendable, Equatable {
            public var label: String
            public var values: [Double?]

            public init(_ label: String, _ values: [Double?]) {
                self.label = label
                self.values = values
            }
        }

        public var title: String
        public var columns: [String]
        public var rows: [Row]
        /// One per column.
        public var formats: [Format]

        /// `formats`: one per column, or one for all of them.
        public init(title: String, columns: [String], rows: [Row], formats: [Format] = [.percent]) {
            precondition(formats.count == 1 || formats.count == columns.count, "Table: one format, or one per column")
            self.title = title
            self.columns = columns
            self.rows = rows
            self.formats = formats.count == 1 ? Array(repeating: formats[0], count: columns.count) : formats
        }
    }

    /// A table drawn as coloured cells (`heatmap.png`): shares in [0, 1]; marked cells are framed (the concepts a
    /// setting erases).
    public struct HeatMap: Codable, Sendable, Equatable {
        public var table: Table
        public var marked: [[Bool]]

        public init(table: Table, marked: [[Bool]]) {
            precondition(marked.count == table.rows.count && zip(marked, table.rows).allSatisfy { $0.count == $1.values.count },
                         "HeatMap: one mark per cell")
            self.table = table
            self.marked = marked
        }
    }

    /// One gate slot's gate for a prompt (facilitated transport), with the similarity it came from.
    public struct Gate: Codable, Sendable, Equatable {
        public var slot: String
        public var similarity: Double?
        public var gate: Double

        public init(_ explanation: FacilitatedTransport.Explanation) {
            slot = explanation.concept.isEmpty ? explanation.membrane : "\(explanation.membrane) · \(explanation.concept)"
            similarity = explanation.similarity.map(Double.init)
            gate = Double(explanation.gate)
        }
    }

    /// One image of a comparison: the base model's, or one setting's of membranes.
    public struct Picture: Codable, Sendable, Equatable {
        public var label: String
        /// Relative to the report's folder.
        public var file: String
        public var gates: [Gate]
        /// What the detectors or scorers read in it, in words.
        public var reading: String?

        public init(label: String, file: String, gates: [Gate] = [], reading: String? = nil) {
            self.label = label
            self.file = file
            self.gates = gates
            self.reading = reading
        }
    }

    /// One prompt generated with the same seed by the base model and with membranes.
    public struct Comparison: Codable, Sendable, Equatable {
        public var prompt: String
        public var negativePrompt: String?
        public var seed: UInt64
        public var pictures: [Picture]

        public init(prompt: String, negativePrompt: String? = nil, seed: UInt64, pictures: [Picture]) {
            self.prompt = prompt
            self.negativePrompt = negativePrompt
            self.seed = seed
            self.pictures = pictures
        }
    }

    /// The loss per step of the run that trained the (first) membrane, from its `.jsonl` log.
    public struct LossCurve: Codable, Sendable, Equatable {
        public var source: String
        public var steps: [Int]
        public var losses: [Double]

        public init(source: String, steps: [Int], losses: [Double]) {
            precondition(steps.count == losses.count, "LossCurve: one loss per step")
            self.source = source
            self.steps = steps
            self.losses = losses
        }

        /// Reads a training log (`NAME.jsonl`, one `TrainingRecord` per line).
        public static func read(_ url: URL) throws -> LossCurve {
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw EvaluationReportError.unreadableLog(file: url.path, reason: "cannot be read as UTF-8 text")
            }
            var steps: [Int] = [], losses: [Double] = []
            for (number, line) in text.split(separator: "\n").enumerated() where !line.allSatisfy(\.isWhitespace) {
                guard let record = try? JSONDecoder().decode(TrainingRecord.self, from: Data(line.utf8)) else {
                    throw EvaluationReportError.unreadableLog(file: url.path, reason: "line \(number + 1) is not a training record (expected {\"step\":…,\"loss\":…})")
                }
                steps.append(record.step)
                losses.append(record.loss)
            }
            return LossCurve(source: url.lastPathComponent, steps: steps, losses: losses)
        }
    }

    public var title: String
    public var task: String
    /// Model, membranes, transport, seeds: how the report was made, as "key: value" lines.
    public var settings: [String]
    public var figures: [Figure]
    public var tables: [Table]
    public var heatMap: HeatMap?
    public var comparisons: [Comparison]
    public var lossCurve: LossCurve?
    /// The task's own report, as `evaluate --json` prints it.
    public var details: String

    public init(title: String, task: String, settings: [String] = [], figures: [Figure], tables: [Table] = [],
                heatMap: HeatMap? = nil, comparisons: [Comparison] = [], lossCurve: LossCurve? = nil, details: String) {
        self.title = title
        self.task = task
        self.settings = settings
        self.figures = figures
        self.tables = tables
        self.heatMap = heatMap
        self.comparisons = comparisons
        self.lossCurve = lossCurve
        self.details = details
    }
}

/// A report that cannot be written: one line naming the file and what was wrong.
public enum EvaluationReportError: Error, CustomStringConvertible, Equatable {
    case unreadableLog(file: String, reason: String)
    case picturesMissing(comparison: Int, expected: Int, given: Int)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableLog(let file, let reason): "\(file): \(reason)"
        case .picturesMissing(let comparison, let expected, let given):
            "evaluation report: comparison \(comparison + 1) names \(expected) pictures but \(given) images were given"
        case .cannotWrite(let path, let reason): "\(path): cannot write the report (\(reason))"
        }
    }
}
