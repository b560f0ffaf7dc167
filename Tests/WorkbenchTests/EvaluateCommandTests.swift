import Diffusion
import Foundation
import Testing
@testable import Membrane

/// `spm-workbench evaluate --task testbed` end to end on the tiny SD1 fixture (its images mean nothing to the
/// detectors, so the checks are the ones that hold for any model): the suite's size, and a membrane at weight 0
/// leaving every image unchanged (no drift, no erasure beyond what the base model already lacks).
@Suite struct EvaluateCommandTests {
    @Test func zeroWeightMembraneChangesNothing() throws {
        let membrane = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path
        let run = try WorkbenchRun(["evaluate", "--task", "testbed", "--model",
                                    WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path,
                                    "--membrane", membrane + ":0", "--target", "red", "--others", "3",
                                    "--steps", "2", "--json"])
        #expect(run.status == 0, "\(run.standardError)")
        let report = try run.jsonObject()
        #expect(report["targetPromptCount"] as? Int == 3 * 7)  // red, crimson, scarlet × 7 caption templates
        #expect(report["otherPromptCount"] as? Int == 3)
        #expect(report["pixelDrift"] as? Double == 0)
        let erasure = try #require(report["erasureRate"] as? Double)
        let presence = try #require(report["baseTargetPresence"] as? Double)
        #expect(abs(erasure - (1 - presence)) < 1e-12)
    }

    /// `--sheet` writes every prompt naming the target as a base | membrane row, `--show` prints the first pairs in
    /// the terminal: at weight 0 each row's two images are the same pixels.
    @Test func sheetAndTerminalPairs() throws {
        let sheet = FileManager.default.temporaryDirectory.appendingPathComponent("evaluate-sheet-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: sheet) }
        let membrane = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path
        let run = try WorkbenchRun(["evaluate", "--task", "testbed", "--model",
                                    WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path,
                                    "--membrane", membrane + ":0", "--target", "red", "--others", "1",
                                    "--steps", "2", "--sheet", sheet.path, "--show", "2"])
        #expect(run.status == 0, "\(run.standardError)")
        let image = try PNGFile.read(from: sheet).image
        let rows = 3 * 7, gap = 2
        let cell = (image.width - gap) / 2
        #expect((image.width - gap) % 2 == 0 && (image.height - gap) % rows == 0)
        #expect((image.height - gap) / rows == cell, "square cells: \(image.width)×\(image.height)")
        let side = cell - gap
        for row in 0..<rows {
            for (x, y) in [(0, 0), (side / 2, side / 3), (side - 1, side - 1)] {
                let top = gap + row * cell + y
                #expect(image[gap + x, top] == image[gap + cell + x, top], "row \(row): base and membrane differ")
            }
        }
        let captions = run.standardOutput.split(separator: "\n").filter { $0.hasSuffix("base | membrane") }
        #expect(captions.count == 2)
        let pictureLines = run.standardOutput.split(separator: "\n").filter { $0.contains("▀") }
        let pixels = side / 4  // the sheet enlarges 4×; a half-block line holds two pixel rows
        #expect(pictureLines.count == 2 * ((pixels + 1) / 2), "\(pictureLines.count) picture lines for \(pixels) px images")
        #expect(pictureLines.allSatisfy { $0.hasPrefix("\u{1B}[38;2;") && $0.hasSuffix("\u{1B}[0m") })
        #expect(run.standardOutput.contains("erasure rate"))
    }

    /// matrix and attack end to end, batched: at weight 0 a membrane changes no image, so every concept the base
    /// model drew is kept, and every text attack "succeeds" wherever the base image shows the target.
    @Test func matrixAndAttackRunEndToEnd() throws {
        let membrane = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path + ":0"
        let model = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path
        let matrix = try WorkbenchRun(["evaluate", "--task", "matrix", "--model", model, "--membrane", membrane,
                                       "--per-concept", "1", "--steps", "2", "--batch", "5", "--json"])
        #expect(matrix.status == 0, "\(matrix.standardError)")
        let columns = try #require(try matrix.jsonObject()["columns"] as? [[String: Any]])
        let cells = try #require(columns.first?["cells"] as? [[String: Any]])
        #expect(cells.count == TestbedWorld().concepts.count)
        #expect(cells.allSatisfy { ($0["kept"] as? Double).map { $0 == 1 } ?? true })

        let attack = try WorkbenchRun(["evaluate", "--task", "attack", "--model", model, "--membrane", membrane, "--target", "red",
                                       "--per-kind", "1", "--steps", "2", "--json"])
        #expect(attack.status == 0, "\(attack.standardError)")
        let rows = try #require(try attack.jsonObject()["rows"] as? [[String: Any]])
        #expect(rows.map { $0["kind"] as? String } == TestbedAttackKind.allCases.map(\.rawValue))
        for row in rows where row["kind"] as? String != "embedding" && (row["baseShows"] as? Double ?? 0) > 0 {
            #expect(row["gated"] as? Double == 1 && row["floored"] as? Double == 1 && row["alwaysOn"] as? Double == 1, "\(row)")
        }

        // --attacks keeps the kinds named, each with the prompts it has in the whole suite.
        let some = try WorkbenchRun(["evaluate", "--task", "attack", "--model", model, "--membrane", membrane, "--target", "red",
                                     "--per-kind", "1", "--steps", "2", "--attacks", "synonym,tokens", "--attack-steps", "3", "--json"])
        #expect(some.status == 0, "\(some.standardError)")
        let someRows = try #require(try some.jsonObject()["rows"] as? [[String: Any]])
        let prompts = Dictionary(uniqueKeysWithValues: someRows.map { ($0["kind"] as? String ?? "", $0["prompts"] as? Int ?? -1) })
        #expect(prompts == Dictionary(uniqueKeysWithValues: TestbedAttackKind.allCases.map {
            ($0.rawValue, [.synonym, .tokens].contains($0) ? 1 : 0)
        }))
    }

    @Test func badInputIsOneLine() throws {
        for (arguments, message) in [
            (["--task", "coco", "--membrane", "x.safetensors"], "--task coco"),
            (["--membrane", "x.safetensors", "--model", "/nonexistent"], "/nonexistent"),
            ([String](), "--membrane"),
            (["--membrane", "x.safetensors", "--sheet", "pairs.jpg"], "--sheet pairs.jpg"),
            (["--task", "attack", "--membrane", "x.safetensors", "--attacks", "tokens,typos"], "--attacks: 'typos'"),
            (["--task", "attack", "--membrane", "x.safetensors", "--attack-tokens", "80"], "--attack-tokens"),
        ] {
            let run = try WorkbenchRun(["evaluate"] + arguments)
            #expect(run.status != 0)
            #expect(run.standardError.contains(message), "\(arguments): \(run.standardError)")
        }
    }
}
