import Diffusion
import Foundation
import Membrane
import Testing
@testable import TUI

/// The rack's gate column is facilitated transport's gate for the generate prompt, as `spm-workbench generate
/// --explain` computes it; f switches the measure, [ and ] move min_gate, and generation uses those gates.
@Suite("Membrane rack with facilitated transport")
struct RackTransportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures").standardizedFileURL
    static let model = fixtures.appendingPathComponent("tiny-sd1").path
    /// Records the concepts "Van Gogh" and "Picasso" (one gate slot).
    static let membrane = fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path

    /// What `spm-workbench generate --explain` prints as the gate for `prompt` ("0.940").
    static func commandGate(prompt: String, transport: String, choice: String) throws -> String? {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TmuxSession.binaryPath)
        process.arguments = ["generate", "--model", model, "--membrane", choice, "--prompt", prompt, "--steps", "1",
                             "--transport", transport, "--explain", "-o", output.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let range = text.range(of: #"gate [0-9.]+"#, options: .regularExpression) else { return nil }
        return String(text[range].dropFirst(5))
    }

    @Test("gate column = generate --explain's gate for the prompt, for embeddings, reference, tokens, off and a min_gate")
    func gateColumnMatchesTheCommand() async throws {
        let store = ModelStore()
        let rack = MembraneRack()
        let generate = GenerateScreen(models: store, rack: rack)
        let rackScreen = MembraneRackScreen(models: store, rack: rack, prompt: { generate.prompt })
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark], models: store,
                               screens: [rackScreen, generate, LogScreen()])
        app.core.start(LoadModelJob(path: Self.model, membranes: [MembraneChoice(path: Self.membrane)], store: store),
                       in: .model)
        func until(_ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() && Date() < deadline {
                app.drainCore()
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(condition(), "timed out: \(rackScreen.gatesState)")
        }
        /// The loop's next turn starts the gates for what changed; then wait for them.
        func ready() async throws {
            app.drainCore()
            try await until { if case .ready = rackScreen.gatesState { true } else { false } }
        }
        func gateCell() -> String? {
            let lines = app.render(size: TerminalSize(columns: 100, rows: 30)).cells.lines
            guard let row = lines.first(where: { $0.contains("tiny-sd1-spm-original") && $0.contains("[x]") }) else { return nil }
            return row.split(separator: " ").last.map { String($0.filter { $0 != "│" }) }
        }
        let prompt = generate.prompt
        try await ready()
        #expect(rackScreen.gatesState == .ready(prompt: prompt))
        let embeddings = try #require(try Self.commandGate(prompt: prompt, transport: "embeddings", choice: Self.membrane))
        #expect(gateCell() == embeddings)

        app.handle(.character("f"))  // reference
        #expect(rack.transportName == "reference")
        try await ready()
        #expect(gateCell() == (try Self.commandGate(prompt: prompt, transport: "reference", choice: Self.membrane)))
        #expect(rackScreen.gates[0]?.map(\.concept) == ["Van Gogh"])

        app.handle(.character("f"))  // tokens
        #expect(rack.transportName == "tokens")
        try await ready()
        #expect(gateCell() == (try Self.commandGate(prompt: prompt, transport: "tokens", choice: Self.membrane)))

        for _ in 0..<19 { app.handle(.character("]")) }  // min_gate 0 → 0.95 (the file records no floor)
        #expect(rack.entries[0].minGate.map(formatWeight) == "0.95")
        try await ready()
        #expect(gateCell() == (try Self.commandGate(prompt: prompt, transport: "tokens", choice: Self.membrane + ":1:0.95")))
        #expect(gateCell() == "0.950")

        app.handle(.character("f"))  // off: every membrane at its weight
        #expect(rack.transportName == "off")
        try await ready()
        #expect(gateCell() == "1.000")
        app.handle(.character("f"))
        #expect(rack.transportName == "embeddings")
        app.core.cancelAll()
    }

    @Test("generation applies the gates transport gives the prompt (per request), not the bare weights")
    func generationUsesTransportGates() async throws {
        let store = ModelStore()
        let rack = MembraneRack()
        let generate = GenerateScreen(models: store, rack: rack, outputFolder: NSTemporaryDirectory())
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark], models: store, screens: [generate, LogScreen()])
        app.core.start(LoadModelJob(path: Self.model, membranes: [MembraneChoice(path: Self.membrane)], store: store),
                       in: .model)
        func until(_ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() && Date() < deadline {
                app.drainCore()
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(condition(), "timed out: \(generate.state)")
        }
        try await until { generate.state == .ready }
        app.handle(.character("g"))
        try await until { if case .finished = generate.state { true } else { false } }
        let loaded = try #require(store.loaded)
        let transport = FacilitatedTransport(
            configuration: TransportConfig(),
            membranes: [FacilitatedTransport.Membrane(file: loaded.files[0], choice: MembraneChoice(path: Self.membrane))],
            slots: MembraneAdapters.gateSlots(for: loaded.files), encode: { loaded.models.transportText($0) })
        let gates = transport.gates(for: loaded.models.transportText(generate.prompt)).gates
        #expect(gates.count == 1 && gates[0] < 0.999)  // a real gate, not the weight
        let size = loaded.models.nativeImageSize
        var request = GenerationRequest(prompt: generate.prompt, steps: generate.steps, width: size, height: size, seed: generate.seed)
        request.adapterGates = gates
        #expect(generate.images.first?.image == (try loaded.models.generate(request).image))
        request.adapterGates = [1]
        #expect(generate.images.first?.image != (try loaded.models.generate(request).image))
        app.core.cancelAll()
    }
}
