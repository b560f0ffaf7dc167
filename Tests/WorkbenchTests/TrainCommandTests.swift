import Diffusion
import Foundation
import Membrane
import Testing
import TestSupport

/// `spm-workbench train` as a user runs it: a run killed with SIGKILL mid-way and started again with
/// `--resume` writes the same membrane as a run that was never interrupted; bad input is one line.
@Suite struct TrainCommandTests {
    static func writeConfig(in folder: URL, iterations: Int) throws -> URL {
        try TinyTrainingConfig.write(to: folder.appendingPathComponent("train.yaml"), iterations: iterations,
                                     checkpointEvery: 1, anchorWeight: 10)
    }

    static func tensors(_ url: URL) throws -> [String: [Float]] {
        let file = try WeightFile.open(url)
        return try Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, try file.floats($0)) })
    }

    @Test func killedRunResumesToTheUninterruptedResult() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.writeConfig(in: folder, iterations: 120)
        let straight = folder.appendingPathComponent("straight.safetensors")
        let run = try WorkbenchRun(["train", config.path, "--out", straight.path])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("step 120/120"))

        let resumed = folder.appendingPathComponent("resumed.safetensors")
        let checkpoint = folder.appendingPathComponent("resumed.checkpoint.safetensors")
        let log = folder.appendingPathComponent("resumed.jsonl")
        let process = Process()
        process.executableURL = WorkbenchRun.executable
        process.arguments = ["train", config.path, "--out", resumed.path]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill it once two steps are logged (a checkpoint is written every step), long before the end. The wait
        // blocks its thread on purpose: an async sleep can be starved while other tests fill the task pool.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let lines = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 2 { break }
            usleep(5_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(FileManager.default.fileExists(atPath: checkpoint.path))
        #expect(!FileManager.default.fileExists(atPath: resumed.path))

        let again = try WorkbenchRun(["train", config.path, "--out", resumed.path, "--resume"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(!again.standardError.contains("step 1/120"))  // it did not start over
        #expect(try Self.tensors(resumed) == Self.tensors(straight))
    }

    /// The command runs a narrow model's sample groups side by side, one thread each; the library runs them one
    /// after another: the membranes are the same bits.
    @Test func sampleGroupsSideBySideWriteTheLibrarysMembrane() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.writeConfig(in: folder, iterations: 4)
        let command = folder.appendingPathComponent("command.safetensors")
        let run = try WorkbenchRun(["train", config.path, "--out", command.path])
        #expect(run.status == 0, "\(run.standardError)")

        let loaded = try TrainingConfig.load(from: config)
        var trainer = try MembraneTrainer(config: loaded, models: PipelineModels.load(from: URL(fileURLWithPath: loaded.model.path)))
        #expect(!trainer.runsSampleGroupsSideBySide)
        let library = folder.appendingPathComponent("library.safetensors")
        _ = try trainer.run(outputs: TrainingOutputs(config: loaded, membrane: library), resume: false)
        #expect(try Self.tensors(command) == Self.tensors(library))
    }

    /// `--precision bf16` trains with bf16 forward passes: the run finishes with a finite membrane of its own,
    /// not the fp32 run's.
    @Test func bfloat16TrainingRunsToItsOwnMembrane() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.writeConfig(in: folder, iterations: 6)
        var membranes: [ComputePrecision: [String: [Float]]] = [:]
        for precision in ComputePrecision.allCases {
            let out = folder.appendingPathComponent("\(precision.rawValue).safetensors")
            let run = try WorkbenchRun(["train", config.path, "--precision", precision.rawValue, "--out", out.path])
            #expect(run.status == 0, "\(run.standardError)")
            membranes[precision] = try Self.tensors(out)
        }
        let (fp32, bf16) = (membranes[.fp32] ?? [:], membranes[.bf16] ?? [:])
        #expect(Set(fp32.keys) == Set(bf16.keys) && !fp32.isEmpty)
        #expect(bf16.values.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(fp32 != bf16, "the bf16 run trained the fp32 run's membrane")
    }

    @Test func badInputIsOneLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.writeConfig(in: folder, iterations: 4)
        for (arguments, message) in [
            (["--resolution", "20"], "train.resolution: must be a positive multiple of 8 pixels, found 20"),
            (["--model", WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1/unet/config.json").path], "config.json"),
            (["--iterations", "0"], "train.iterations: must be at least 1, found 0"),
            (["--model", folder.appendingPathComponent("missing").path], "missing"),
        ] {
            let run = try WorkbenchRun(["train", config.path] + arguments)
            #expect(run.status != 0)
            let lines = run.standardError.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(message), "\(arguments): \(run.standardError)")
        }
    }
}
