import Diffusion
import Foundation

extension TestbedDetection {
    /// What the detectors read, in words: "red + blue, circle, striped, smiley".
    public var reading: String {
        let parts = [colours.isEmpty ? nil : colours.map(\.rawValue).joined(separator: " + "), shape?.rawValue,
                     texture?.rawValue, character?.rawValue].compactMap { $0 }
        return parts.isEmpty ? "nothing found" : parts.joined(separator: ", ")
    }
}

extension TestbedErasureReport {
    /// The report as a page: the headline rates, erasure per word, each attribute's accuracy, and every prompt's
    /// base and membrane images with the membrane's gates and what the detectors read.
    public func page(generations: [TestbedGeneration], settings: [String], lossCurve: EvaluationReport.LossCurve?,
                     detector: TestbedDetector = TestbedDetector()) throws -> (report: EvaluationReport, images: [[RGBImage]]) {
        let comparisons = generations.enumerated().map { index, generation in
            EvaluationReport.Comparison(prompt: generation.prompt.text, seed: generation.prompt.seed, pictures: [
                .init(label: "base", file: "images/\(index)-base.png", reading: detector.detect(generation.base).reading),
                .init(label: "membranes", file: "images/\(index)-membranes.png", gates: generation.gates.map(EvaluationReport.Gate.init),
                      reading: detector.detect(generation.withMembrane).reading),
            ])
        }
        let report = EvaluationReport(
            title: "Erasure of \"\(target.canonicalWord)\" on the testbed", task: "testbed", settings: settings,
            figures: [
                .init("erasure rate (prompts naming it, \(targetPromptCount))", erasureRate),
                .init("base model shows it", baseTargetPresence),
                .init("preservation (other prompts, \(otherPromptCount))", preservation),
                .init("attributes read as prompted, base", baseAccuracy),
                .init("attributes read as prompted, membranes", membraneAccuracy),
                .init("pixel drift on other prompts (mean |Δ|, 0–1)", pixelDrift, .number),
            ],
            tables: [
                .init(title: "Erasure rate by the word naming it", columns: ["prompts", "erasure rate"],
                      rows: words.map { .init("\"\($0.word)\"", [Double($0.promptCount), $0.erasureRate]) }, formats: [.number, .percent]),
                .init(title: "Other prompts: attributes read as prompted", columns: ["base", "membranes"],
                      rows: attributes.map { .init($0.kind.rawValue, [$0.base, $0.withMembrane]) }),
            ],
            comparisons: comparisons, lossCurve: lossCurve, details: try json())
        return (report, generations.map { [$0.base, $0.withMembrane] })
    }
}

extension TestbedMatrixReport {
    /// The matrix as a page: a heat map of the concepts kept (rows: concepts, columns: settings; the erased
    /// concepts framed) and each setting's erasure and preservation.
    public func page(settings: [String], lossCurve: EvaluationReport.LossCurve?) throws -> EvaluationReport {
        let concepts = columns.first?.cells.map(\.concept) ?? []
        let kept = EvaluationReport.Table(
            title: "Concepts kept (share of prompts naming each whose image still shows it, where the base model's does)",
            columns: columns.map(\.setting),
            rows: concepts.indices.map { row in .init(concepts[row].canonicalWord, columns.map { $0.cells[row].kept }) })
        let marked = concepts.indices.map { row in columns.map { $0.cells[row].erased } }
        return EvaluationReport(
            title: "Erasure matrix on the testbed", task: "matrix", settings: settings,
            figures: columns.flatMap { [EvaluationReport.Figure("\($0.setting): erasure", $0.erasure),
                                        EvaluationReport.Figure("\($0.setting): preservation", $0.preservation)] },
            heatMap: EvaluationReport.HeatMap(table: kept, marked: marked), lossCurve: lossCurve, details: try json())
    }
}

extension TestbedAttackReport {
    /// The attacks as a page: success per kind and gating, and every attack prompt's images under each gating
    /// with its gates.
    public func page(generations: [TestbedAttackGeneration], settings: [String], lossCurve: EvaluationReport.LossCurve?,
                     detector: TestbedDetector = TestbedDetector()) throws -> (report: EvaluationReport, images: [[RGBImage]]) {
        func values(_ row: Row) -> [Double?] { [Double(row.prompts), row.baseShows, row.gated, row.floored, row.alwaysOn] }
        var images: [[RGBImage]] = []
        let comparisons = generations.enumerated().map { index, generation in
            var pictures = [EvaluationReport.Picture(label: "base", file: "images/\(index)-base.png",
                                                     reading: detector.detect(generation.base).reading)]
            var row = [generation.base]
            for gating in TestbedAttackGating.allCases {
                guard let image = generation.withMembranes[gating] else { continue }
                pictures.append(.init(label: gating == .floored ? String(format: "floor %.2f", floor) : gating.rawValue,
                                      file: "images/\(index)-\(gating.rawValue).png",
                                      gates: (generation.gates[gating] ?? []).map(EvaluationReport.Gate.init),
                                      reading: detector.detect(image).reading))
                row.append(image)
            }
            images.append(row)
            return EvaluationReport.Comparison(prompt: "[\(generation.prompt.kind.rawValue)] " + generation.prompt.text,
                                               negativePrompt: generation.prompt.negative, seed: generation.prompt.seed,
                                               pictures: pictures)
        }
        let report = EvaluationReport(
            title: "Attacks on the erasure of \"\(target.canonicalWord)\" on the testbed", task: "attack", settings: settings,
            figures: [
                .init("attack success, gated", attacks.gated),
                .init(String(format: "attack success, floor %.2f", floor), attacks.floored),
                .init("attack success, always on", attacks.alwaysOn),
                .init("plain prompts: target back, gated (1 − erasure)", rows.first { $0.kind == .plain }?.gated),
                .init(String(format: "whole-conditioning attack (not pooled), floor %.2f", floor),
                      rows.first { $0.kind == .embedding }?.floored),
            ],
            tables: [.init(title: "Attack success by kind (the target back, among prompts whose base image shows it)",
                           columns: ["prompts", "base shows", "gated", String(format: "floor %.2f", floor), "always on"],
                           rows: rows.map { .init($0.kind.rawValue, values($0)) }
                               + [.init("all attacks (but embedding)", values(attacks))],
                           formats: [.number, .percent, .percent, .percent, .percent])],
            comparisons: comparisons, lossCurve: lossCurve, details: try json())
        return (report, images)
    }
}
