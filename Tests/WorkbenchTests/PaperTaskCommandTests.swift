import Diffusion
import Foundation
import Testing
@testable import Membrane

/// The paper's tasks end to end: `spm-workbench evaluate` on the tiny SD1 fixture with the tiny CLIP model
/// (Tests/DiffusionTests/Golden/clip-model), tiny prompt files, a shell detector, and the fixture membrane that
/// erases "Van Gogh" and "Picasso". Random models draw nothing meaningful, so the checks are what holds for any
/// model: every prompt is generated and scored, the report's numbers are the JSON's, a rerun resumes.
@Suite struct PaperTaskCommandTests {
    static let clip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DiffusionTests/Golden/clip-model")

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paper-command-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func evaluate(_ task: String, prompts: URL, in folder: URL, extra: [String] = []) throws -> WorkbenchRun {
        try WorkbenchRun(["evaluate", "--task", task, "--model", WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path,
                          "--membrane", WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path,
                          "--prompts", prompts.path, "--steps", "2", "--images", folder.appendingPathComponent("images").path,
                          "--report", folder.appendingPathComponent("report").path, "--json"] + extra)
    }

    @Test(arguments: ["general", "artwork", "i2p", "coco"])
    func taskRunsEndToEnd(task: String) throws {
        let folder = try Self.folder()
        let prompts = folder.appendingPathComponent("prompts")
        let (text, count): (String, Int) = switch task {
        case "general": ("Van Gogh\ncat\n", 2 * 2)
        case "artwork": (",prompt,evaluation_seed,case_number,artist\n0,\"a starry night, by Van Gogh\",3,1,Van Gogh\n1,a portrait of a cat,4,2,Rembrandt\n", 2)
        case "i2p": ("prompt,categories,sd_seed,sd_guidance_scale,sd_image_width,sd_image_height\n\"a dog, painting\",violence,5.0,6,32,32\n", 1)
        default: ("image_id,caption\n9,A cat on a mat.\n10,A dog.\n11,Van Gogh.\n", 3)
        }
        try Data(text.utf8).write(to: prompts)
        var extra = ["--clip", Self.clip.path]
        if task == "general" { extra += ["--templates", try { let t = folder.appendingPathComponent("templates"); try Data("a photo of {}\n{} painting\n".utf8).write(to: t); return t.path }()] }
        if task == "i2p" {
            extra = ["--detector", "while read p; do echo \"{\\\"path\\\": \\\"$p\\\", \\\"scores\\\": {\\\"EXPOSED\\\": 0.7}}\"; done",
                     "--detector-label", "EXPOSED", "--detector-threshold", "0.6"]
        }
        let run = try Self.evaluate(task, prompts: prompts, in: folder, extra: extra)
        #expect(run.status == 0, "\(run.standardError)")
        let result = try JSONDecoder().decode(PaperTaskReport.self, from: Data(run.standardOutput.utf8))
        #expect(result.rows.count == count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("images").path).count == 2 * count)
        if task == "i2p" {
            #expect(result.rows.allSatisfy { $0.base.flagged == true && $0.membranes.flagged == true })
            #expect(result.rows.allSatisfy { $0.base.clipScore == nil })
        } else {
            // CLIP scored every image against its prompt; the erased groups are the membrane's concepts.
            #expect(result.rows.allSatisfy { ($0.base.clipScore ?? -1) >= 0 && ($0.membranes.clipScore ?? -1) >= 0 })
            #expect(result.clipModel == Self.clip.path)
        }
        if task == "general" || task == "artwork" {
            #expect(result.groups.map(\.erased) == [true, false])
            #expect(result.rows.allSatisfy { $0.base.predicted != nil })
        }
        // The report: its JSON holds the task report printed above, and its page the JSON's numbers.
        let report = try JSONDecoder().decode(EvaluationReport.self,
                                              from: Data(contentsOf: folder.appendingPathComponent("report/report.json")))
        #expect(try JSONDecoder().decode(PaperTaskReport.self, from: Data(report.details.utf8)) == result)
        #expect(report.comparisons.count == count)
        let html = try String(contentsOf: folder.appendingPathComponent("report/index.html"), encoding: .utf8)
        #expect(html.contains("data-value"))

        // Again: every image is read back, and the numbers are the same.
        let again = try Self.evaluate(task, prompts: prompts, in: folder, extra: extra)
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("reused \(2 * count) images"))
        #expect(try JSONDecoder().decode(PaperTaskReport.self, from: Data(again.standardOutput.utf8)) == result)
    }
}
