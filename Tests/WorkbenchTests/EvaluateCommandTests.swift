import Foundation
import Testing

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

    @Test func badInputIsOneLine() throws {
        for (arguments, message) in [
            (["--task", "coco", "--membrane", "x.safetensors"], "--task coco"),
            (["--membrane", "x.safetensors", "--model", "/nonexistent"], "/nonexistent"),
            ([String](), "--membrane"),
        ] {
            let run = try WorkbenchRun(["evaluate"] + arguments)
            #expect(run.status != 0)
            #expect(run.standardError.contains(message), "\(arguments): \(run.standardError)")
        }
    }
}
