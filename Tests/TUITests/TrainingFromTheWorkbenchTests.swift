import Diffusion
import Foundation
import Membrane
import Testing
import TestSupport
@testable import TUI

/// Training started, paused, resumed and stopped from the workbench: the same `MembraneTrainer.run` the `train`
/// command calls, on the tiny fixture model.
@Suite("Training from the workbench", .serialized)
struct TrainingFromTheWorkbenchTests {
    static let tinyModel = TinyTrainingConfig.model

    /// A few steps on the tiny model at 16 px, a checkpoint every step, everything written under `folder`.
    static func config(iterations: Int, folder: URL) throws -> TrainingConfig {
        try TrainingConfig.load(from: TinyTrainingConfig.write(to: folder.appendingPathComponent("train.yaml"),
                                                               iterations: iterations, checkpointEvery: 1))
    }

    /// The app with a monitor training `config` (a closure, as the config editor provides it).
    struct Bench {
        let app: WorkbenchApp
        let monitor: TrainingMonitorScreen

        init(config: @escaping () -> (config: TrainingConfig, problem: String?)?) {
            monitor = TrainingMonitorScreen(trainingConfig: config)
            app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark], screens: [monitor, LogScreen()])
        }

        func until(_ what: String, _ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(120)
            while !condition() && Date() < deadline {
                app.drainCore()
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(condition(), "timed out waiting for \(what): \(monitor.training)")
        }
    }

    static func tensors(_ url: URL) throws -> [String: [Float]] {
        let file = try WeightFile.open(url)
        return try Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, try file.floats($0)) })
    }

    @Test("r is refused with the validation message while the config is invalid; p/u/x/m say why they do nothing")
    func refusedWhileInvalid() throws {
        let editor = ConfigEditorScreen(document: .blank(modelPath: nil))
        let problem = try #require(editor.document.problem?.description)
        let bench = Bench(config: { (editor.config, editor.document.problem?.description) })
        bench.app.handle(.character("r"))
        #expect(bench.app.hint == "not started: \(problem)")
        #expect(bench.monitor.training == .none)
        for (key, hint) in [("p", "no training run is going"), ("x", "no training run is going"),
                            ("u", "nothing to resume: r starts a run")] {
            bench.app.handle(.character(Character(key)))
            #expect(bench.app.hint == hint)
        }
        bench.app.handle(.character("m"))
        #expect(bench.app.hint?.hasPrefix("no finished run") == true)
    }

    @Test("pause then resume writes the membrane an uninterrupted library run writes; the monitor follows the log")
    func pauseResumeMatchesStraightRun() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tui-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let iterations = 10
        let config = try Self.config(iterations: iterations, folder: root.appendingPathComponent("tui"))
        let bench = Bench(config: { (config, nil) })
        bench.app.handle(.character("r"))
        #expect(bench.monitor.training == .starting(resumed: false))
        // Asked while the model loads, so the run cannot finish its ten quick steps before the request reaches it
        // (under a loaded machine the test thread may not run again until they are done): it ends after step 1.
        bench.app.handle(.character("p"))  // answered at once: the step in progress finishes in the core
        #expect(bench.monitor.training == .pausing)
        try await bench.until("the pause") { if case .paused = bench.monitor.training { true } else { false } }
        guard case .paused(let pausedAt) = bench.monitor.training else { return }
        #expect(pausedAt == 1)
        let outputs = TrainingOutputs(config: config)
        #expect(FileManager.default.fileExists(atPath: outputs.checkpoint.path))
        #expect(!FileManager.default.fileExists(atPath: outputs.membrane.path))
        bench.app.handle(.character("u"))
        #expect(bench.monitor.training == .starting(resumed: true))
        try await bench.until("the end") { bench.monitor.training == .finished(membrane: outputs.membrane.path) }
        try await bench.until("the whole log") { bench.monitor.run.records.count == iterations }
        #expect(bench.monitor.run.records.map(\.step) == Array(1...iterations))
        #expect(bench.monitor.run.progress == 1)
        #expect(bench.app.log.entries.contains { $0.message.hasPrefix("wrote membrane \(outputs.membrane.path)") })

        // The same config trained straight through by the library, in another folder.
        let straightConfig = try Self.config(iterations: iterations, folder: root.appendingPathComponent("straight"))
        var trainer = try MembraneTrainer(config: straightConfig,
                                          models: try PipelineModels.load(from: URL(fileURLWithPath: Self.tinyModel)))
        let straight = TrainingOutputs(config: straightConfig)
        _ = try trainer.run(outputs: straight, resume: false)
        #expect(try Self.tensors(outputs.membrane) == Self.tensors(straight.membrane))
        bench.app.core.cancelAll()
    }

    @Test("x stops a run after the current step and keeps its checkpoint; r starts again while nothing runs")
    func stopKeepsCheckpoint() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tui-stop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let config = try Self.config(iterations: 200, folder: root)
        let bench = Bench(config: { (config, nil) })
        bench.app.handle(.character("r"))
        bench.app.handle(.character("r"))
        #expect(bench.app.hint == "a run is going: p pauses it, x stops it")
        try await bench.until("the first step") { bench.monitor.training == .running }
        bench.app.handle(.character("x"))
        #expect(bench.monitor.training == .stopping)
        try await bench.until("the stop") { if case .stopped = bench.monitor.training { true } else { false } }
        let outputs = TrainingOutputs(config: config)
        #expect(FileManager.default.fileExists(atPath: outputs.checkpoint.path))
        #expect(!FileManager.default.fileExists(atPath: outputs.membrane.path))
        guard case .stopped(let step) = bench.monitor.training else { return }
        #expect(step < 200)
        bench.app.handle(.character("r"))  // a new run from step 0
        #expect(bench.monitor.training == .starting(resumed: false))
        bench.app.handle(.character("x"))
        try await bench.until("the second stop") { if case .stopped = bench.monitor.training { true } else { false } }
        bench.app.core.cancelAll()
    }
}

extension TrainingFromTheWorkbenchTests {
    @Test("the workbench's model is reused for training only when it is the config's model with no membrane attached")
    func baseModelReuse() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tui-reuse-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try Self.config(iterations: 4, folder: folder)
        let store = ModelStore()
        let core = WorkbenchCore()
        core.start(LoadModelJob(path: Self.tinyModel + "/", store: store), in: .model)  // the same folder, spelled otherwise
        let deadline = Date().addingTimeInterval(60)
        while store.loaded == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let loaded = try #require(store.loaded)
        let reused = try TrainingJob.baseModel(for: config, store: store)
        #expect(reused.reused && reused.models.unet.configuration == loaded.models.unet.configuration)
        #expect(try TrainingJob.baseModel(for: config, store: nil).reused == false)

        // With a membrane attached the store's UNet is not the frozen base: the model is read again.
        let withMembrane = ModelStore()
        core.start(LoadModelJob(path: Self.tinyModel, membranes: [MembraneChoice(path: RackTransportTests.membrane)],
                                store: withMembrane), in: .model)
        while withMembrane.loaded == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try #require(withMembrane.loaded).files.count == 1)
        #expect(try TrainingJob.baseModel(for: config, store: withMembrane).reused == false)
        core.cancelAll()
    }
}
