import Foundation
import Membrane
import Testing
import TestSupport

/// Training driven from the workbench in tmux, on the tiny fixture model.
extension TmuxTests {
    /// A config for the tiny model writing under `folder` (YAML, as the config editor loads it).
    static func tinyTrainingConfig(in folder: URL, iterations: Int) throws -> URL {
        try TinyTrainingConfig.write(to: folder.appendingPathComponent("apple.yaml"), iterations: iterations,
                                     checkpointEvery: 5)
    }

    /// The step the monitor's side panel shows ("step    12 / 400" → 12).
    static func shownStep(_ screen: String) -> Int? {
        guard let range = screen.range(of: #"step +[0-9]+ / "#, options: .regularExpression) else { return nil }
        return Int(screen[range].split(separator: " ")[1])
    }

    // On the tiny model: on the testbed model this test once left the workbench running 25 s after q, with the
    // whole suite loading the machine (a checkpoint preview was generating at the time; not yet understood).
    @Test("r in the config editor trains on the tiny model: progress and curves move, keys answer, x stops, q restores")
    func trainFromTheEditor() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.tinyTrainingConfig(in: folder, iterations: 2000)
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --config \(config.path)")
        #expect(session.waitFor { $0.contains("Training config · apple.yaml") && $0.contains("✓ valid") } != nil)
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
