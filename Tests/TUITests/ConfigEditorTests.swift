import Diffusion
import Foundation
import Membrane
import Testing
@testable import TUI

@Suite("Config editor")
struct ConfigEditorTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../configs").standardizedFileURL
    static let snoopy = configs.appendingPathComponent("sd15/erase-snoopy.yaml")

    /// A config with every optional key given, so every field has a value.
    static func complete() throws -> TrainingConfig {
        var config = try TrainingConfig.load(from: snoopy)
        config.model.clipSkip = 2
        config.concepts.append(ConceptEntry(target: "Woodstock", neutral: "a bird", minGate: 0.25, gateThreshold: 0.6))
        config.train.gradClip = 1
        config.concepts[0].minGate = 0
        config.concepts[0].gateThreshold = 0.75
        // Both sizes at once do not validate, but every field should show and read back its value.
        config.train.dynamicResolution = DynamicResolution(min: 256, max: 512)
        config.save.name = "erase-peanuts"
        return config
    }

    func index(of name: String, in document: ConfigDocument) throws -> Int {
        try #require(document.fields.firstIndex { $0.name == name }, "no field \(name)")
    }

    /// What loading a file gives for `value` under `key` in section `train`: the decoder's one-line reason.
    func decoderMessage(train key: String, value: String) throws -> String {
        var text = try String(contentsOf: Self.snoopy, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("  \(key):") })
        text = text.replacingOccurrences(of: String(line), with: "  \(key): \(value)")
        do {
            _ = try YAMLDecoder().decode(TrainingConfig.self, from: text, file: "f.yaml")
            Issue.record("\(key): \(value) loaded")
            return ""
        } catch let error as ConfigError {
            return "\(error.field): \(error.message)"
        }
    }

    @Test("one field per key the YAML encoder writes, each showing its value and reading it back unchanged")
    func everyKeyIsAField() throws {
        let config = try Self.complete()
        let document = ConfigDocument(config: config)
        // Leaf keys of the file: indented "key: value" lines (dynamic_resolution's three are one field).
        let yaml = try config.yaml()
        let leaves = yaml.split(separator: "\n").filter { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "- ", with: "")
            return trimmed.contains(": ")
        }
        #expect(document.fields.count == leaves.count - 3 + 1, "\(yaml)")
        #expect(document.fields.count == 3 + 2 * 11 + 3 + 21 + 3)
        for (index, field) in document.fields.enumerated() {
            let text = field.text(in: config)
            if field.isOptional { #expect(!text.isEmpty, "\(field.name) shows nothing") }
            var copy = document
            try copy.set(text, field: index)
            #expect(copy.config == config, "\(field.name): '\(text)' did not read back to the same value")
        }
        #expect(document.fields[try index(of: "train.dynamic_resolution", in: document)].text(in: config)
            == "{min: 256, max: 512, step: 64}")
        #expect(document.fields.map(\.name).contains("concepts[1].min_gate"))
        #expect(document.fields.map(\.name).contains("concepts[1].gate_threshold"))
    }

    @Test("a value out of range gets the message loading the file would give, from the same validate()")
    func rangeMessages() throws {
        let document = try ConfigDocument.load(from: Self.snoopy.path)
        let rate = try index(of: "train.learning_rate", in: document)
        #expect(document.check("-1", field: rate) == (try decoderMessage(train: "learning_rate", value: "-1")))
        #expect(document.check("-1", field: rate) == "train.learning_rate: must be a finite number greater than 0, found -1.0")
        #expect(document.check("2e-4", field: rate) == nil)
        let steps = try index(of: "train.denoise_steps", in: document)
        #expect(document.check("1", field: steps) == (try decoderMessage(train: "denoise_steps", value: "1")))
        let resolution = try index(of: "train.resolution", in: document)
        #expect(document.check("100", field: resolution) == (try decoderMessage(train: "resolution", value: "100")))
        let target = try index(of: "concepts[0].target", in: document)
        #expect(document.check(" ", field: target) == "concepts[0].target: must not be empty")
    }

    @Test("text that is no value of the field's type gets the decoder's own words")
    func typeMessages() throws {
        let document = try ConfigDocument.load(from: Self.snoopy.path)
        let iterations = try index(of: "train.iterations", in: document)
        let message = try #require(document.check("many", field: iterations))
        #expect(try decoderMessage(train: "iterations", value: "many").hasSuffix(message))
        #expect(message.contains("expected an integer"))
        let schedule = try index(of: "train.lr_schedule", in: document)
        #expect(document.check("linear", field: schedule)?.contains("expected one of constant, cosine, cosine_with_restarts") == true)
        var copy = document
        #expect(throws: ConfigFieldError.self) { try copy.set("many", field: iterations) }
        #expect(copy.config == document.config)
    }

    @Test("a value that breaks another field's rule is accepted there and reported at that field")
    func crossFieldProblem() throws {
        var document = try ConfigDocument.load(from: Self.snoopy.path)
        let iterations = try index(of: "train.iterations", in: document)
        #expect(document.check("400", field: iterations) == nil)
        try document.set("400", field: iterations)
        #expect(document.problem?.path == ["train", "warmup_steps"])
        #expect(document.problem?.description == "train.warmup_steps: must be less than iterations (400), found 500")
        #expect(throws: ConfigValidationError.self) { try document.save(to: "/nonexistent/x.yaml") }
        try document.set("", field: try index(of: "train.warmup_steps", in: document))
        #expect(document.problem == nil && document.config.train.warmupSteps == nil)
    }

    @Test("load → edit fields → save → reload gives exactly the edited config")
    func roundTrip() throws {
        var document = try ConfigDocument.load(from: Self.snoopy.path)
        try document.set("2.5e-4", field: try index(of: "train.learning_rate", in: document))
        try document.set("Woodstock", field: try index(of: "concepts[0].target", in: document))
        try document.set("isotropic", field: try index(of: "concepts[0].anchor_sampler", in: document))
        try document.set("{min: 256, max: 448}", field: try index(of: "train.dynamic_resolution", in: document))
        try document.set("", field: try index(of: "train.resolution", in: document))
        #expect(document.isModified)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try document.save(to: url.path)
        #expect(!document.isModified && document.path == url.path)
        let reloaded = try TrainingConfig.load(from: url)
        #expect(reloaded == document.config)
        var expected = try TrainingConfig.load(from: Self.snoopy)
        expected.train.learningRate = 2.5e-4
        expected.concepts[0].target = "Woodstock"
        expected.concepts[0].positive = "Woodstock"  // it equalled the target, so it follows, as an absent key does
        expected.concepts[0].anchorSampler = .isotropic
        expected.train.resolution = nil
        expected.train.dynamicResolution = DynamicResolution(min: 256, max: 448, step: 64)
        #expect(reloaded == expected)
        // Nothing but the file itself is left in the folder (the write went through a renamed temporary).
        let siblings = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
            .filter { $0.contains(url.deletingPathExtension().lastPathComponent) }
        #expect(siblings == [url.lastPathComponent])
    }

    @Test("concept entries can be added and removed; choices cycle both ways")
    func conceptsAndChoices() throws {
        var document = try ConfigDocument.load(from: Self.snoopy.path)
        let before = document.fields.count
        document.addConcept()
        #expect(document.fields.count == before + 11)
        #expect(document.problem?.description == "concepts[1].target: must not be empty")
        try document.set("Lucy", field: try index(of: "concepts[1].target", in: document))
        #expect(document.problem == nil && document.config.concepts[1].positive == "Lucy")
        document.removeConcept(at: 0)
        #expect(document.config.concepts.map(\.target) == ["Lucy"] && document.fields.count == before)
        document.removeConcept(at: 0)
        #expect(document.problem?.description == "concepts: at least one concept is required")
        let schedule = document.fields[try index(of: "train.lr_schedule", in: document)]
        #expect(schedule.cycled(in: document.config, by: 1) == "constant")  // wraps after cosine_with_restarts
        #expect(schedule.cycled(in: document.config, by: -1) == "cosine")
        #expect(document.fields[try index(of: "train.iterations", in: document)].cycled(in: document.config, by: 1) == nil)
    }

    @Test("the screen: Enter edits in the prompt, a bad value is refused inline, l loads, Space cycles, w saves")
    func screenThroughTheApp() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-screen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let editor = ConfigEditorScreen(workingDirectory: folder.path)
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark], screens: [editor, LogScreen()])
        let size = TerminalSize(columns: 110, rows: 40)
        func type(_ text: String) { text.forEach { app.handle(.character($0)) } }
        var lines = app.render(size: size).cells.lines
        #expect(lines.contains { $0.contains("✗ model.path: must not be empty") })
        app.handle(.character("l"))
        app.handle(.control("u"))
        type(Self.snoopy.path)
        app.handle(.enter)
        #expect(app.prompt == nil && editor.document.path == Self.snoopy.path)
        lines = app.render(size: size).cells.lines
        #expect(lines.contains { $0.contains("Training config · erase-snoopy.yaml") })
        #expect(lines.contains { $0.contains("✓ valid") })
        let rate = try index(of: "train.learning_rate", in: editor.document)
        for _ in 0..<rate { app.handle(.down) }
        #expect(editor.selected == rate)
        app.handle(.enter)
        #expect(app.prompt?.field.value == "0.0001")
        app.handle(.control("u"))
        type("-1")
        app.handle(.enter)
        #expect(app.prompt?.field.message == "train.learning_rate: must be a finite number greater than 0, found -1.0")
        lines = app.render(size: size).cells.lines
        #expect(lines.contains { $0.contains("✗ train.learning_rate: must be a finite number greater than 0") })
        app.handle(.control("u"))
        type("3e-4")
        app.handle(.enter)
        #expect(app.prompt == nil && editor.config.train.learningRate == 3e-4)
        app.handle(.down)  // train.optimizer
        app.handle(.character(" "))
        #expect(editor.config.train.optimizer == .adam)
        lines = app.render(size: size).cells.lines
        #expect(lines.contains { $0.contains("Training config · erase-snoopy.yaml (modified)") })
        #expect(lines.contains { $0.contains("train.learning_rate") && $0.contains("0.0003") })
        app.handle(.character("w"))
        app.handle(.control("u"))
        type("saved.yaml")
        app.handle(.enter)
        #expect(app.prompt == nil)
        let saved = try TrainingConfig.load(from: folder.appendingPathComponent("saved.yaml"))
        #expect(saved == editor.config && saved.train.optimizer == .adam)
    }
}
