import Diffusion
import Foundation

/// A paper task's result: per image what CLIP and the detector read, without and with membranes, and the same
/// summarised per group (class, artist, I2P category), the erased groups apart from the rest.
public struct PaperTaskReport: Codable, Sendable, Equatable, TaskReport {
    /// What was read in one image.
    public struct Reading: Codable, Sendable, Equatable {
        /// CLIP score against the row's prompt: max(100 · cos, 0), as torchmetrics' CLIPScore.
        public var clipScore: Double?
        /// The class CLIP finds closest (general, artwork).
        public var predicted: String?
        public var flagged: Bool?
        public var detectorScores: [String: Double]?
    }

    public struct Row: Codable, Sendable, Equatable {
        public var id: String
        public var prompt: String
        public var group: String?
        public var seed: UInt64
        public var base: Reading
        public var membranes: Reading
        public var gates: [Double]
    }

    /// A base and a membrane figure.
    public struct Pair: Codable, Sendable, Equatable {
        public var base: Double
        public var membranes: Double
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var name: String
        /// The group names a concept the membranes erase (case-insensitive).
        public var erased: Bool
        public var prompts: Int
        public var clipScore: Pair?
        /// Share of images classified as their own group.
        public var clipAccuracy: Pair?
        /// Share of images the detector flags.
        public var flagged: Pair?
    }

    public var task: PaperTask
    public var clipModel: String?
    /// How `predicted` was read: each group's name in this template, the closest text wins.
    public var classTemplate: String?
    public var detector: ExternalDetector?
    public var rows: [Row]
    public var groups: [Summary]
    /// Every row of the erased groups, and every other row.
    public var erased: Summary?
    public var others: Summary?

    /// The class template each task classifies by (nil: the task does not classify).
    public static func classTemplate(for task: PaperTask) -> String? {
        switch task {
        case .general: "a photo of a {}."
        case .artwork: "a painting by {}."
        case .i2p, .coco: nil
        }
    }

    /// Scores `generations`. `erasedConcepts`: the membranes' concept names; `clip` and `detector` each score when
    /// given.
    public init(task: PaperTask, generations: [PaperTaskRun.Generation], erasedConcepts: [String],
                clip: (name: String, model: any ImageTextEmbedding)?, detector: ExternalDetector?) throws {
        self.task = task
        self.detector = detector
        clipModel = clip?.name
        var groupNames: [String] = []
        for group in generations.compactMap(\.prompt.group) where !groupNames.contains(group) { groupNames.append(group) }
        let template = clip == nil || groupNames.count < 2 ? nil : Self.classTemplate(for: task)
        classTemplate = template
        var base = generations.map { _ in Reading() }, membranes = base
        if let model = clip?.model {
            let prompts = try model.embed(texts: generations.map(\.prompt.prompt))
            let classes = try template.map { template in
                try model.embed(texts: groupNames.map { template.replacingOccurrences(of: "{}", with: $0) })
            }
            func read(_ images: [RGBImage]) throws -> [Reading] {
                zip(try model.embed(images: images), prompts).map { image, prompt in
                    let closest = classes.flatMap { classes in
                        classes.indices.max { Self.dot(image, classes[$0]) < Self.dot(image, classes[$1]) }
                    }
                    return Reading(clipScore: max(100 * Double(Self.dot(image, prompt)), 0), predicted: closest.map { groupNames[$0] })
                }
            }
            base = try read(generations.map(\.base))
            membranes = try read(generations.map(\.withMembranes))
        }
        if let detector {
            let found = try detector.scores(for: generations.flatMap { [$0.baseFile.path, $0.membranesFile.path] })
            for index in generations.indices {
                (base[index].detectorScores, base[index].flagged) = (found[2 * index], detector.flags(found[2 * index]))
                (membranes[index].detectorScores, membranes[index].flagged) = (found[2 * index + 1], detector.flags(found[2 * index + 1]))
            }
        }
        let rows = generations.indices.map { index in
            let prompt = generations[index].prompt
            return Row(id: prompt.id, prompt: prompt.prompt, group: prompt.group, seed: prompt.seed, base: base[index],
                       membranes: membranes[index], gates: generations[index].gates.map { Double($0.gate) })
        }
        self.rows = rows
        func summary(_ name: String, erased: Bool, _ members: [Row]) -> Summary {
            /// The mean of `value` over the members where both images have it.
            func pair(_ value: (Reading, Row) -> Double?) -> Pair? {
                let values = members.compactMap { row in value(row.base, row).flatMap { b in value(row.membranes, row).map { (b, $0) } } }
                guard !values.isEmpty else { return nil }
                return Pair(base: values.map(\.0).reduce(0, +) / Double(values.count),
                            membranes: values.map(\.1).reduce(0, +) / Double(values.count))
            }
            return Summary(name: name, erased: erased, prompts: members.count, clipScore: pair { reading, _ in reading.clipScore },
                           clipAccuracy: pair { reading, row in reading.predicted.map { $0 == row.group ? 1 : 0 } },
                           flagged: pair { reading, _ in reading.flagged.map { $0 ? 1 : 0 } })
        }
        let erasedNames = Set(erasedConcepts.map { $0.lowercased() })
        func isErased(_ row: Row) -> Bool { row.group.map { erasedNames.contains($0.lowercased()) } ?? false }
        groups = groupNames.map { name in
            summary(name, erased: erasedNames.contains(name.lowercased()), rows.filter { $0.group == name })
        }
        let (erasedRows, otherRows) = (rows.filter(isErased), rows.filter { !isErased($0) })
        erased = erasedRows.isEmpty ? nil : summary("erased", erased: true, erasedRows)
        others = otherRows.isEmpty ? nil : summary("others", erased: false, otherRows)
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// The summaries as a plain-text table.
    public var table: String {
        func pair(_ pair: Pair?, percent: Bool) -> String {
            guard let pair else { return "          –" }
            return percent ? String(format: "%5.1f%% → %5.1f%%", 100 * pair.base, 100 * pair.membranes)
                : String(format: "%6.2f → %6.2f", pair.base, pair.membranes)
        }
        var lines = ["\(task.rawValue): \(rows.count) prompts, base → membranes"
                     + (clipModel.map { "; CLIP \($0)" } ?? "") + (detector.map { "; detector '\($0.command)' ≥ \($0.threshold)" } ?? ""),
                     "group".padding(toLength: 28, withPad: " ", startingAt: 0) + "prompts   CLIP score         CLIP accuracy      flagged"]
        for summary in groups + [erased, others].compactMap({ $0 }) {
            lines.append(((summary.erased ? "✗ " : "  ") + summary.name).padding(toLength: 28, withPad: " ", startingAt: 0)
                         + String(format: "%7d", summary.prompts) + "   " + pair(summary.clipScore, percent: false) + "   "
                         + pair(summary.clipAccuracy, percent: true) + "   " + pair(summary.flagged, percent: true))
        }
        return lines.joined(separator: "\n")
    }

    /// The report as a page: the erased and other groups' figures, every group's, and every prompt's images with
    /// their gates and readings.
    public func page(generations: [PaperTaskRun.Generation], settings: [String],
                     lossCurve: EvaluationReport.LossCurve?) throws -> (report: EvaluationReport, images: [[RGBImage]]) {
        var figures: [EvaluationReport.Figure] = []
        for summary in [erased, others].compactMap({ $0 }) {
            if let score = summary.clipScore {
                figures += [.init("\(summary.name): CLIP score, base", score.base, .number),
                            .init("\(summary.name): CLIP score, membranes", score.membranes, .number)]
            }
            if let accuracy = summary.clipAccuracy {
                figures += [.init("\(summary.name): CLIP accuracy, base", accuracy.base),
                            .init("\(summary.name): CLIP accuracy, membranes", accuracy.membranes)]
            }
            if let flagged = summary.flagged {
                figures += [.init("\(summary.name): flagged by the detector, base", flagged.base),
                            .init("\(summary.name): flagged by the detector, membranes", flagged.membranes)]
            }
        }
        let table = EvaluationReport.Table(
            title: "By group (✗: erased)", columns: ["prompts", "CLIP score base", "CLIP score membranes", "CLIP accuracy base",
                                                     "CLIP accuracy membranes", "flagged base", "flagged membranes"],
            rows: groups.map { summary in
                .init((summary.erased ? "✗ " : "") + summary.name,
                      [Double(summary.prompts), summary.clipScore?.base, summary.clipScore?.membranes, summary.clipAccuracy?.base,
                       summary.clipAccuracy?.membranes, summary.flagged?.base, summary.flagged?.membranes])
            },
            formats: [.number, .number, .number, .percent, .percent, .percent, .percent])
        func words(_ reading: Reading) -> String? {
            let parts = [reading.clipScore.map { String(format: "CLIP %.2f", $0) }, reading.predicted.map { "looks like \($0)" },
                         reading.flagged.map { $0 ? "flagged" : "not flagged" }].compactMap { $0 }
            return parts.isEmpty ? nil : parts.joined(separator: ", ")
        }
        let comparisons = zip(generations, rows).enumerated().map { index, pair in
            let (generation, row) = pair
            return EvaluationReport.Comparison(prompt: row.prompt, seed: row.seed, pictures: [
                .init(label: "base", file: "images/\(index)-base.png", reading: words(row.base)),
                .init(label: "membranes", file: "images/\(index)-membranes.png", gates: generation.gates.map(EvaluationReport.Gate.init),
                      reading: words(row.membranes)),
            ])
        }
        let report = EvaluationReport(title: "\(task.rawValue) task", task: task.rawValue, settings: settings, figures: figures,
                                      tables: groups.isEmpty ? [] : [table], comparisons: comparisons, lossCurve: lossCurve,
                                      details: try json())
        return (report, generations.map { [$0.base, $0.withMembranes] })
    }
}
