import Diffusion
import Foundation
import Membrane
import Testing
@testable import TUI

@Suite("Membrane rack")
struct MembraneRackTests {
    static let sd1 = LoadModelJobTests.sd1
    static let membrane = URL(fileURLWithPath: sd1).deletingLastPathComponent()
        .appendingPathComponent("sd1-membrane.safetensors").path

    @Test("weights move by 0.05 on the step grid and stop at ±2; sync keeps what the user set")
    func weights() {
        let rack = MembraneRack()
        rack.sync(with: [MembraneChoice(path: "/m/a.safetensors", weight: 1), MembraneChoice(path: "/m/b.safetensors", weight: 0.33)])
        #expect(rack.entries.map(\.name) == ["a", "b"] && rack.gates == [1, 0.33])
        rack.adjustWeight(1, steps: 1)  // 0.33 + 0.05 = 0.38, snapped to 0.40
        #expect(formatWeight(rack.entries[1].weight) == "0.40")
        for _ in 0..<30 { rack.adjustWeight(0, steps: 1) }
        #expect(rack.entries[0].weight == 2)
        for _ in 0..<100 { rack.adjustWeight(0, steps: -1) }
        #expect(rack.entries[0].weight == -2)
        for _ in 0..<21 { rack.adjustWeight(0, steps: 1) }
        #expect(formatWeight(rack.entries[0].weight) == "-0.95")
        rack.toggle(0)
        #expect(rack.gates.map(formatWeight) == ["0.00", "0.40"])
        #expect(rack.mix.map(\.index) == [1] && rack.mixDescription == "b:0.40")
        rack.sync(with: [MembraneChoice(path: "/m/a.safetensors"), MembraneChoice(path: "/m/b.safetensors"),
                         MembraneChoice(path: "/m/c.safetensors", weight: 7)])
        #expect(rack.entries.map(\.isOn) == [false, true, true])
        #expect(rack.entries.map { formatWeight($0.weight) } == ["-0.95", "0.40", "2.00"])
    }

    /// The app over a loaded model (with `membranes`), showing generate and the rack.
    struct Bench {
        let app: WorkbenchApp
        let generate: GenerateScreen
        let rackScreen: MembraneRackScreen
        let store: ModelStore

        init(membranes: [MembraneChoice], folder: String) async throws {
            store = ModelStore()
            let rack = MembraneRack()
            generate = GenerateScreen(models: store, rack: rack, outputFolder: folder)
            rackScreen = MembraneRackScreen(models: store, rack: rack, workingDirectory: folder)
            app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark], models: store,
                               screens: [generate, rackScreen, LogScreen()])
            app.core.start(LoadModelJob(path: MembraneRackTests.sd1, membranes: membranes, store: store), in: .model)
            try await until { generate.state == .ready }
        }

        /// Drains the core until `condition` holds (generous deadline: CI has two busy cores).
        func until(_ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() && Date() < deadline {
                app.drainCore()
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(condition(), "timed out")
        }

        func keys(_ keys: Key...) { keys.forEach(app.handle) }

        /// Waits for the generation a key started to finish.
        func finished() async throws {
            guard case .running = generate.state else {
                Issue.record("no generation started: \(generate.state)")
                return
            }
            try await until { if case .finished = generate.state { true } else { false } }
        }

        func direct(gates: [Float]?) throws -> RGBImage {
            let models = try #require(store.loaded?.models)
            var request = GenerationRequest(prompt: generate.prompt, steps: generate.steps, width: 32, height: 32,
                                            seed: generate.seed)
            request.adapterGates = gates
            return try models.generate(request).image
        }
    }

    @Test("toggling a membrane or moving its weight re-renders the preview with the rack's gates")
    func previewFollowsTheRack() async throws {
        let bench = try await Bench(membranes: [MembraneChoice(path: Self.membrane)], folder: NSTemporaryDirectory())
        bench.keys(.character("1"))  // generate is the first screen here
        bench.keys(.character("g"))
        try await bench.finished()
        let withMembrane = try bench.direct(gates: [1])
        #expect(bench.generate.images.map(\.label) == ["membranes"] && bench.generate.images.first?.image == withMembrane)
        bench.keys(.tab, .character(" "))  // the rack: switch the membrane off
        #expect(bench.rackScreen.rack.entries.map(\.isOn) == [false])
        try await bench.finished()
        let off = try bench.direct(gates: [0])
        #expect(off != withMembrane)
        #expect(bench.generate.images.map(\.label) == ["original"] && bench.generate.images.first?.image == off)
        bench.keys(.character(" "), .character("-"))  // on again, then weight 0.95
        try await bench.finished()
        #expect(bench.generate.images.first?.image == (try bench.direct(gates: [0.95])))
        #expect(bench.generate.images.map(\.label) == ["membranes"] && bench.generate.shownMix == "sd1-membrane:0.95")
        let lines = bench.app.render(size: TerminalSize(columns: 100, rows: 30)).cells.lines
        #expect(lines.contains { $0.contains("[x] sd1-membrane") && $0.contains("  0.95  ") }, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("mix: sd1-membrane:0.95") })
        bench.app.core.cancelAll()
    }

    @Test("a membrane added by path attaches after the model loaded; s writes the mix as merge --weights does")
    func addAndMerge() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bench = try await Bench(membranes: [], folder: folder.path)
        bench.keys(.tab, .character("s"))
        #expect(bench.app.hint?.hasPrefix("no membranes") == true)
        bench.keys(.character("a"))
        "nosuch.safetensors".forEach { bench.app.handle(.character($0)) }
        bench.keys(.enter)
        #expect(bench.app.prompt?.field.message == "no such file: \(folder.path)/nosuch.safetensors")
        bench.keys(.control("u"))
        "\(Self.membrane):0.5".forEach { bench.app.handle(.character($0)) }
        bench.keys(.enter)
        try await bench.until { bench.rackScreen.rack.entries.count == 1 }
        #expect(bench.store.loaded?.membranes == [MembraneChoice(path: Self.membrane, weight: 0.5)])
        #expect(bench.rackScreen.rack.gates == [0.5])
        bench.keys(.character("+"))  // 0.55
        bench.keys(.character("s"), .control("u"))
        "mix/merged.safetensors".forEach { bench.app.handle(.character($0)) }
        bench.keys(.enter)
        let output = folder.appendingPathComponent("mix/merged.safetensors")
        try await bench.until { bench.app.log.entries.contains { $0.message.hasPrefix("wrote merged membrane") } }
        let wrote = bench.app.log.entries.map(\.message).filter { $0.hasPrefix("wrote merged") }
        #expect(wrote == ["wrote merged membrane \(output.path) (sd1-membrane:0.55; rank 2)"])

        // The command line's merge of the same membrane at the same weight writes the same membrane.
        let cli = folder.appendingPathComponent("cli/merged.safetensors")
        try FileManager.default.createDirectory(at: cli.deletingLastPathComponent(), withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TmuxSession.binaryPath)
        process.arguments = ["merge", Self.membrane, "--weights", "0.55", "-o", cli.path, "--unet-config", Self.sd1]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let layout = MembraneLayout(unet: try #require(bench.store.loaded).models.unet.configuration)
        let fromRack = try MembraneFile.read(output, layout: layout)
        let fromCommand = try MembraneFile.read(cli, layout: layout)
        #expect(fromRack.layers == fromCommand.layers && !fromRack.layers.isEmpty)
        #expect(fromRack.concepts == fromCommand.concepts && fromRack.title == fromCommand.title)
        #expect(fromRack.mergedFrom == fromCommand.mergedFrom)
        bench.app.core.cancelAll()
    }
}
