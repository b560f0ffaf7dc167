import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct EvaluationReportTests {
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("report-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every `attribute="…"` value of the page, in order.
    static func attributes(_ name: String, in html: String) -> [String] {
        html.components(separatedBy: "\(name)=\"").dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
    }

    /// The numbers the page shows (`data-value`), in order, as the JSON should give them: figures, tables, heat
    /// map, the loss curve's step count and last loss, then every picture's gates.
    static func expectedValues(_ report: EvaluationReport) -> [Double?] {
        report.figures.map(\.value)
            + report.tables.flatMap { $0.rows.flatMap(\.values) }
            + (report.heatMap?.table.rows.flatMap(\.values) ?? [])
            + (report.lossCurve.map { [Double($0.steps.count), $0.losses.last] } ?? [])
            + report.comparisons.flatMap { $0.pictures.flatMap { $0.gates.map(\.gate) } }
    }

    /// Opens every file the page refers to and checks that its numbers are the JSON's; returns the decoded JSON.
    static func check(folder: URL) throws -> EvaluationReport {
        let html = try String(contentsOf: folder.appendingPathComponent("index.html"), encoding: .utf8)
        let referenced = attributes("src", in: html) + attributes("href", in: html)
        #expect(referenced.contains("report.json"))
        for file in referenced {
            let url = folder.appendingPathComponent(file)
            #expect(FileManager.default.fileExists(atPath: url.path), "\(file) is referenced but missing")
            if file.hasSuffix(".png") { _ = try PNGFile.read(from: url) }
        }
        let report = try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: folder.appendingPathComponent("report.json")))
        let shown = attributes("data-value", in: html).map { $0 == "null" ? nil : Double($0) }
        #expect(shown == expectedValues(report))
        #expect(!html.contains("<script"))
        return report
    }

    /// A perfect base model and a membrane that recolours the first three red prompts blue, gated at 0.9 there.
    @Test func theErasurePageShowsTheJSONsNumbersAndEveryPicture() throws {
        let suite = TestbedPromptSuite(target: .colour(.red), otherCount: 4, seed: 2)
        let generations = suite.prompts.enumerated().map { index, prompt in
            var erased = prompt.scene
            if index < 3 { erased.colour = .blue }
            let gate = FacilitatedTransport.Explanation(membrane: "erase-red", concept: "red", similarity: prompt.namesTarget ? 0.9 : 0.1,
                                                        floor: 0, weight: 1, gate: prompt.namesTarget ? 0.9 : 0.1)
            return TestbedGeneration(prompt: prompt, base: prompt.scene.render(), withMembrane: erased.render(), gates: [gate])
        }
        let result = try TestbedErasureReport(target: .colour(.red), generations: generations)
        let folder = try Self.temporaryFolder().appendingPathComponent("report")
        let log = folder.deletingLastPathComponent().appendingPathComponent("erase-red.jsonl")
        try Data("{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"loss\":0.25,\"lr\":0.001}\n{\"step\":3,\"loss\":0.375}\n".utf8).write(to: log)
        let page = try result.page(generations: generations, settings: ["model: test"], lossCurve: try .read(log))
        try EvaluationReportWriter.write(page.report, images: page.images, to: folder)

        let written = try Self.check(folder: folder)
        #expect(written == page.report)
        #expect(written.lossCurve == EvaluationReport.LossCurve(source: "erase-red.jsonl", steps: [1, 2, 3], losses: [0.5, 0.25, 0.375]))
        // The headline figures are the task report's own numbers.
        let details = try JSONDecoder().decode(TestbedErasureReport.self, from: Data(written.details.utf8))
        #expect(details == result)
        #expect(written.figures[0].value == result.erasureRate && abs(result.erasureRate - 3.0 / 21) < 1e-12)
        #expect(written.figures[2].value == result.preservation)
        // Each picture file holds its image; the gates are the membrane's.
        #expect(written.comparisons.count == generations.count)
        for ((comparison, images), generation) in zip(zip(written.comparisons, page.images), generations) {
            #expect(comparison.prompt == generation.prompt.text && comparison.seed == generation.prompt.seed)
            for (picture, image) in zip(comparison.pictures, images) {
                #expect(try PNGFile.read(from: folder.appendingPathComponent(picture.file)).image == image)
            }
            #expect(comparison.pictures[1].gates.map(\.gate) == [generation.prompt.namesTarget ? 0.9 : 0.1].map { Double(Float($0)) })
        }
        // The first prompt names red and the base model drew it; the membrane drew it blue.
        #expect(written.comparisons[0].pictures[0].reading?.hasPrefix("red") == true)
        #expect(written.comparisons[0].pictures[1].reading?.hasPrefix("blue") == true)
        // The grid: one row per prompt, base | membranes, each picture enlarged to 128 pixels.
        let grid = try PNGFile.read(from: folder.appendingPathComponent("grid.png")).image
        let side = 32 * 4
        #expect(grid.width == 2 * (side + 2) + 2 && grid.height == generations.count * (side + 2) + 2)
        // The loss plot: white, with the curve's blue.
        let loss = try PNGFile.read(from: folder.appendingPathComponent("loss.png")).image
        #expect(loss.pixels.count == 480 * 160 * 3)
        #expect(stride(from: 0, to: loss.pixels.count, by: 3).contains { loss.pixels[$0] == 31 && loss.pixels[$0 + 1] == 119 && loss.pixels[$0 + 2] == 180 })

        // Written again over itself: replaced whole, nothing temporary left beside it.
        try EvaluationReportWriter.write(page.report, images: page.images, to: folder)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.deletingLastPathComponent().path).sorted() == ["erase-red.jsonl", "report"])
    }

    /// The matrix page: a heat map whose cells are the kept shares in viridis (0 dark purple, 1 yellow), missing
    /// ones grey, the erased concepts framed in white.
    @Test func theMatrixHeatMapColoursEachCellByItsShare() throws {
        let probes: [TestbedConcept] = [.colour(.red), .colour(.red), .colour(.blue), .shape(.circle)]
        let columns = [
            TestbedMatrixReport.Column(setting: "erase-red", erased: [.colour(.red)], probes: probes,
                                       baseShows: [true, true, true, false], membraneShows: [false, false, true, false]),
            TestbedMatrixReport.Column(setting: "together", erased: [.colour(.red), .colour(.blue)], probes: probes,
                                       baseShows: [true, true, true, false], membraneShows: [true, false, false, false]),
        ]
        let result = TestbedMatrixReport(columns: columns)
        let folder = try Self.temporaryFolder().appendingPathComponent("matrix")
        try EvaluationReportWriter.write(try result.page(settings: [], lossCurve: nil), images: [], to: folder)
        let written = try Self.check(folder: folder)
        let map = try #require(written.heatMap)
        #expect(map.table.rows.map(\.label) == ["red", "blue", "circle"])
        #expect(map.table.rows.map(\.values) == [[0, 0.5], [1, 0], [nil, nil]])
        #expect(map.marked == [[true, true], [false, true], [false, false]])
        #expect(written.figures.map(\.value) == [1, 1, 0.75, nil])

        let image = try PNGFile.read(from: folder.appendingPathComponent("heatmap.png")).image
        #expect(image.width == 2 * 42 + 2 && image.height == 3 * 42 + 2)
        func centre(_ row: Int, _ column: Int) -> [UInt8] {
            let (x, y) = (2 + column * 42 + 20, 2 + row * 42 + 20)
            let pixel = image[x, y]
            return [pixel.red, pixel.green, pixel.blue]
        }
        #expect(centre(0, 0) == [68, 1, 84])       // red erased alone: 0% kept
        #expect(centre(0, 1) == [33, 145, 140])    // 50%: viridis' middle
        #expect(centre(1, 0) == [253, 231, 37])    // blue kept: 100%
        #expect(centre(2, 0) == [160, 160, 160])   // circle never drawn by the base model: not measured
        let corner = image[2, 2], inside = image[2, 2 + 42]
        #expect([corner.red, corner.green, corner.blue] == [255, 255, 255])  // erased: framed
        #expect([inside.red, inside.green, inside.blue] == [253, 231, 37])   // kept, not erased: no frame
    }

    @Test func badInputGivesOneLineNamingTheFileAndLeavesNoFolder() throws {
        let parent = try Self.temporaryFolder()
        let log = parent.appendingPathComponent("run.jsonl")
        try Data("{\"step\":1,\"loss\":0.5}\nnot json\n".utf8).write(to: log)
        #expect(throws: EvaluationReportError.unreadableLog(file: log.path, reason: "line 2 is not a training record (expected {\"step\":…,\"loss\":…})")) {
            try EvaluationReport.LossCurve.read(log)
        }
        let report = EvaluationReport(title: "t", task: "testbed", figures: [], comparisons: [
            .init(prompt: "p", seed: 1, pictures: [.init(label: "base", file: "images/0-base.png")]),
        ], details: "{}")
        #expect(throws: EvaluationReportError.picturesMissing(comparison: 0, expected: 1, given: 0)) {
            try EvaluationReportWriter.write(report, images: [[]], to: parent.appendingPathComponent("out"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["run.jsonl"])
        #expect(EvaluationReportWriter.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
    }
}
