import Diffusion
import Foundation
import Membrane
import Testing
import TestSupport

/// Training driven from the workbench in tmux: on the shipped testbed model, and on the tiny fixture model where a
/// run must finish in moments.
extension TmuxTests {
    /// A config for the tiny model writing under `folder` (YAML, as the config editor loads it).
    static func tinyTrainingConfig(in folder: URL, iterations: Int) throws -> URL {
        try TinyTrainingConfig.write(to: folder.appendingPathComponent("apple.yaml"), iterations: iterations,
                                     checkpointEvery: 5)
    }

    /// The demo's config (configs/testbed/erase-red.yaml: "red" off the shipped testbed model at 32 px), writing
    /// under `folder` with a checkpoint every 5 steps.
    static func testbedTrainingConfig(in folder: URL, iterations: Int) throws -> URL {
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../models/testbed").standardizedFileURL.path
        let yaml = """
            model:
              path: \(model)
              family: testbed
            concepts:
              - target: red
                anchor_weight: 30
            train:
              iterations: \(iterations)
              learning_rate: 1.0e-2
              warmup_steps: 30
              resolution: 32
              seed: 0
            save:
              output: \(folder.path)
              every: 5
            """
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("erase-red.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The step the monitor's side panel shows ("step    12 / 400" → 12).
    static func shownStep(_ screen: String) -> Int? {
        guard let range = screen.range(of: #"step +[0-9]+ / "#, options: .regularExpression) else { return nil }
        return Int(screen[range].split(separator: " ")[1])
    }

    @Test("r in the config editor trains on the testbed model: progress and curves move, keys answer, x stops, q restores")
    func trainFromTheEditor() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.testbedTrainingConfig(in: folder, iterations: 2000)
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --config \(config.path)")
        #expect(session.waitFor { $0.contains("Training config · erase-red.yaml") && $0.contains("✓ valid") } != nil)
        try session.keys("r")
        let first = try #require(session.waitFor(timeout: 60) { ($0.contains("running (p x)")) && (Self.shownStep($0) ?? 0) >= 2 },
                                 "training did not start: \(session.screen())")
        let firstStep = try #require(Self.shownStep(first))
        let later = try #require(session.waitFor(timeout: 60) { (Self.shownStep($0) ?? 0) >= firstStep + 5 && $0.contains("it/s") },
                                 "the progress did not move: \(session.screen())")
        #expect(later.contains("━━ erase") && later.contains("━━ anchor"))
        #expect(later.contains("eta"))
        // Keys are answered while the run goes on: help opens and closes.
        try session.keys("?")
        #expect(session.waitFor { $0.contains("pause after the current step") } != nil, "help did not open while training")
        try session.keys("Escape")
        try session.keys("x")
        let stopped = try #require(session.waitFor(timeout: 60) { $0.contains("stopped at") }, "did not stop: \(session.screen())")
        #expect(stopped.contains("(u r)"))
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        #expect(files.contains { $0.hasSuffix(".checkpoint.safetensors") }, "no checkpoint: \(files)")
        #expect(!files.contains { $0.hasSuffix(".safetensors") && !$0.contains("checkpoint") })
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("q while a run trains stops it at a checkpoint of its last step, then restores the terminal")
    func quitWhileTraining() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-quit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.tinyTrainingConfig(in: folder, iterations: 2000)
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --config \(config.path)")
        #expect(session.waitFor { $0.contains("✓ valid") } != nil)
        try session.keys("r")
        _ = try #require(session.waitFor(timeout: 60) { $0.contains("running (p x)") && (Self.shownStep($0) ?? 0) >= 2 },
                         "training did not start: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
        // Checkpoints come every 5 steps; the one left behind is the step the run was on when q came.
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        let checkpoint = try #require(files.first { $0.lastPathComponent.hasSuffix(".checkpoint.safetensors") }, "no checkpoint: \(files)")
        let log = try #require(files.first { $0.pathExtension == "jsonl" }, "no log: \(files)")
        let lastRecord = try #require(try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last)
        let loggedStep = try #require((try JSONSerialization.jsonObject(with: Data(lastRecord.utf8)) as? [String: Any])?["step"] as? Int)
        let savedStep = try WeightFile.open(checkpoint).metadata["spm.checkpoint.step"]
        #expect(savedStep == String(loggedStep), "checkpoint step \(savedStep ?? "none"), last logged step \(loggedStep)")
        #expect(!files.contains { $0.lastPathComponent.contains(".tmp-") }, "a temporary file was left: \(files)")
    }

    @Test("a finished run's membrane joins the rack with m, with its gate for the prompt")
    func finishedRunJoinsTheRack() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-rack-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.tinyTrainingConfig(in: folder, iterations: 4)
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/tiny-sd1").standardizedFileURL.path
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --model \(model) --config \(config.path)")
        try session.keys("r")
        #expect(session.waitFor(timeout: 60) { $0.contains("done: m adds it") } != nil, "did not finish: \(session.screen())")
        try session.keys("m", "5")
        let rack = session.waitFor(timeout: 60) { $0.contains("[x] erase-a-red-apple") && $0.contains("gates for \"a cat painting\"") }
        #expect(rack != nil, "not in the rack: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }
}
