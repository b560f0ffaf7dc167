import Foundation
import Testing

/// The monitor's checkpoint previews in tmux, on the tiny fixture model.
extension TmuxTests {
    @Test("a run started in the workbench shows the preview panel: the target and control prompts at a checkpoint")
    func previewPanelDuringRun() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-preview-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.tinyTrainingConfig(in: folder, iterations: 2000)  // a checkpoint every 5 steps
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --config \(config.path)")
        #expect(session.waitFor { $0.contains("✓ valid") } != nil)
        try session.keys("r")
        let shown = session.waitFor(timeout: 90) {
            $0.range(of: #"Preview · step [0-9]+"#, options: .regularExpression) != nil
                && $0.contains("target a red apple") && $0.contains("control a lighthouse")
        }
        #expect(shown != nil, "no preview: \(session.screen())")
        #expect(shown?.contains("running (p x)") == true)
        try session.keys("x")
        #expect(session.waitFor(timeout: 60) { $0.contains("stopped at") } != nil, "did not stop: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }
}
