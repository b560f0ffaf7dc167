import Diffusion
import Foundation
import Membrane
import Testing
@testable import TUI

@Suite("The base model and generations in the background core")
struct LoadModelJobTests {
    static let sd1 = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../DiffusionTests/Golden/pipelines/sd1").standardizedFileURL.path

    /// Drains the core until `done` says so (generous deadline: on a 2-core CI machine other tests can hold both
    /// cooperative threads for seconds).
    func collect(_ core: WorkbenchCore, until done: ([CoreEvent]) -> Bool) async throws -> [CoreEvent] {
        var events: [CoreEvent] = []
        let deadline = Date().addingTimeInterval(60)
        while !done(events) && Date() < deadline {
            events += core.events.drain()
            try await Task.sleep(for: .milliseconds(20))
        }
        return events
    }

    static func logEntries(_ events: [CoreEvent]) -> [LogEntry] {
        events.compactMap { if case .log(let entry) = $0 { entry } else { nil } }
    }

    @Test("a diffusers folder loads into the store and is summarised in the log")
    func loadsAFolder() async throws {
        let core = WorkbenchCore(), store = ModelStore()
        core.start(LoadModelJob(path: Self.sd1, store: store), in: .model)
        let events = try await collect(core) { !Self.logEntries($0).isEmpty }
        let logged = Self.logEntries(events)
        #expect(logged.count == 1 && logged.first?.level == .info)
        #expect(logged.first?.message.contains("sd1 layout, UNet channels [8, 16, 16, 24], images in multiples of 16 px") == true,
                "\(logged)")
        #expect(store.loaded?.path == Self.sd1)
    }

    @Test("a model that cannot load gives one error line and leaves the store empty")
    func reportsFailure() async throws {
        let core = WorkbenchCore(), store = ModelStore()
        core.start(LoadModelJob(path: "/no/such/model", store: store), in: .model)
        let logged = Self.logEntries(try await collect(core) { !Self.logEntries($0).isEmpty })
        #expect(logged.map(\.message) == ["/no/such/model: cannot read: no such file or folder"])
        #expect(logged.first?.level == .error && store.loaded == nil)
    }

    @Test("the generate screen runs the engine in the core and shows its image")
    func generateScreen() async throws {
        let core = WorkbenchCore(), store = ModelStore()
        let screen = GenerateScreen(models: store, outputFolder: NSTemporaryDirectory())
        #expect(screen.perform(.startGeneration).count == 1, "without a model: a hint")
        core.start(LoadModelJob(path: Self.sd1, store: store), in: .model)
        for event in try await collect(core, until: { $0.contains { if case .modelLoaded = $0 { true } else { false } } }) {
            _ = screen.receive(event)
        }
        #expect(screen.state == .ready)
        for effect in screen.perform(.startGeneration) {
            if case .startJob(let job, let slot) = effect { core.start(job, in: slot) }
        }
        var finished = false
        var sawProgress = false
        for event in try await collect(core, until: { $0.contains { if case .generation(_, .finished) = $0 { true } else { false } } }) {
            if case .generation(_, .progress) = event { sawProgress = true }
            _ = screen.receive(event)
            if case .finished = screen.state { finished = true }
        }
        #expect(finished && sawProgress)
        // The same request through the engine directly gives the same pixels.
        let models = try #require(store.loaded?.models)
        let direct = try models.generate(GenerationRequest(prompt: screen.prompt, steps: screen.steps, width: 32, height: 32,
                                                           seed: screen.seed))
        #expect(screen.images.map(\.label) == ["original"] && screen.images.first?.image == direct.image)
    }

    @Test("c generates the original and the membrane-equipped image side by side; m switches membranes off")
    func compareWithMembranes() async throws {
        let core = WorkbenchCore(), store = ModelStore()
        let membrane = URL(fileURLWithPath: Self.sd1).deletingLastPathComponent().appendingPathComponent("sd1-membrane.safetensors").path
        let screen = GenerateScreen(models: store, outputFolder: NSTemporaryDirectory())
        core.start(LoadModelJob(path: Self.sd1, membranes: [MembraneChoice(path: membrane, weight: 0.5)], store: store), in: .model)
        for event in try await collect(core, until: { $0.contains { if case .modelLoaded = $0 { true } else { false } } }) {
            _ = screen.receive(event)
        }
        let loaded = try #require(store.loaded)
        #expect(loaded.membranes.map(\.name) == ["sd1-membrane"])
        func run(_ action: Action) async throws {
            for effect in screen.perform(action) {
                if case .startJob(let job, let slot) = effect { core.start(job, in: slot) }
            }
            for event in try await collect(core, until: { $0.contains { if case .generation(_, .finished) = $0 { true } else { false } } }) {
                _ = screen.receive(event)
            }
        }
        try await run(.compareGeneration)
        var request = GenerationRequest(prompt: screen.prompt, steps: screen.steps, width: 32, height: 32, seed: screen.seed)
        let original = try loaded.models.generate(request).image
        request.adapterGates = [0.5]
        let withMembrane = try loaded.models.generate(request).image
        #expect(screen.images.map(\.label) == ["original", "membranes"])
        #expect(screen.images.map(\.image) == [original, withMembrane])
        #expect(original != withMembrane, "the membrane changes the image")
        _ = screen.perform(.toggleMembranes)
        try await run(.startGeneration)
        #expect(screen.images.map(\.label) == ["original"] && screen.images.first?.image == original)
    }
}
