import Foundation
import Membrane

/// The membranes on the model: switch each on or off, set its weight, add more by path, and write the mix that
/// is on as one merged membrane. Every change re-renders the generate screen's preview.
public final class MembraneRackScreen: Screen {
    public let title = "Membranes"
    public let keyScope = KeyScope.membraneRack
    public let rack: MembraneRack
    public private(set) var selected = 0
    private let models: ModelStore
    private let workingDirectory: String

    /// The prompt the gates are computed for: the generate screen's.
    private let prompt: () -> String
    /// Facilitated transport's gates for `prompt`, per rack membrane (one per gate slot; a merged membrane has
    /// several), from the last finished `TransportGatesJob`.
    public private(set) var gates: [Int: [FacilitatedTransport.Explanation]] = [:]
    public private(set) var gatesState = GatesState.none
    /// What the last gates job was started for: when the prompt or the rack differ, `refresh` starts another.
    private var gatesInput: (prompt: String, transport: RackTransport)?
    private var gatesGeneration = 0

    public enum GatesState: Equatable {
        case none, computing
        case ready(prompt: String)
        case failed(String)
    }

    /// A column after the membrane's name.
    struct Column: Sendable {
        let title: String
        let width: Int
        let value: @Sendable (RackEntry, [FacilitatedTransport.Explanation]) -> String
    }

    static let columns = [
        Column(title: "weight", width: 6, value: { entry, _ in formatWeight(entry.weight) }),
        // The floor the user set, or the one transport used (the file's record) marked "file".
        Column(title: "min_gate", width: 9, value: { entry, explained in
            if let minGate = entry.minGate { return formatWeight(minGate) }
            return explained.map(\.floor).max().map { "file " + formatWeight($0) } ?? "file"
        }),
        // One gate per slot (a merged membrane has one per concept), as the generation gets them.
        Column(title: "gate", width: 14, value: { _, explained in
            explained.isEmpty ? "…" : explained.map { String(format: "%.3f", $0.gate) }.joined(separator: "/")
        }),
    ]

    public init(models: ModelStore, rack: MembraneRack,
                workingDirectory: String = FileManager.default.currentDirectoryPath,
                prompt: @escaping () -> String = { "" }) {
        self.models = models
        self.rack = rack
        self.workingDirectory = workingDirectory
        self.prompt = prompt
    }

    /// Starts computing the gates when the prompt or the rack changed since the last computation.
    public func refresh() -> [ScreenEffect] {
        guard models.loaded != nil, !rack.entries.isEmpty else { return [] }
        let input = (prompt: prompt(), transport: rack.facilitatedTransport)
        if let last = gatesInput, last.prompt == input.prompt, last.transport == input.transport { return [] }
        gatesInput = input
        gatesGeneration += 1
        gatesState = .computing
        return [.startJob(TransportGatesJob(transport: input.transport, prompt: input.prompt, store: models,
                                            generation: gatesGeneration), .transportGates)]
    }

    public func perform(_ action: Action) -> [ScreenEffect] {
        switch action {
        case .scrollUp: selected = max(0, selected - 1)
        case .scrollDown: selected = max(0, min(rack.entries.count - 1, selected + 1))
        case .toggleMembrane:
            guard rack.entries.indices.contains(selected) else { return [.hint(emptyHint)] }
            rack.toggle(selected)
            return [.membranesChanged]
        case .increaseWeight, .decreaseWeight:
            guard rack.entries.indices.contains(selected) else { return [.hint(emptyHint)] }
            let before = rack.entries[selected].weight
            rack.adjustWeight(selected, steps: action == .increaseWeight ? 1 : -1)
            guard rack.entries[selected].weight != before else {
                return [.hint("weight stays within \(formatWeight(MembraneRack.weightRange.lowerBound))…\(formatWeight(MembraneRack.weightRange.upperBound))")]
            }
            return [.membranesChanged]
        case .increaseMinGate, .decreaseMinGate:
            guard rack.entries.indices.contains(selected) else { return [.hint(emptyHint)] }
            let before = rack.entries[selected].minGate
            let recorded = gates[selected]?.map(\.floor).max() ?? 0
            rack.adjustMinGate(selected, steps: action == .increaseMinGate ? 1 : -1, current: recorded)
            guard rack.entries[selected].minGate != before else { return [.hint("min_gate stays within 0…1")] }
            return [.membranesChanged]
        case .nextTransport:
            rack.cycleTransport()
            return [.log(LogEntry(.info, "facilitated transport: \(rack.transportName)")), .membranesChanged]
        case .addMembrane:
            return [.prompt(TextPrompt(label: "Membrane to add (path[:weight])", value: "",
                                       validate: { [weak self] text in self?.addProblem(text) },
                                       accept: { [weak self] text in self?.add(text) ?? [] }))]
        case .saveMix:
            if rack.mix.isEmpty { return [.hint(rack.entries.isEmpty ? emptyHint : "switch at least one membrane on")] }
            return [.prompt(TextPrompt(label: "Write the mix (\(rack.mixDescription)) as", value: "out/mix.safetensors",
                                       validate: { [weak self] text in self?.saveProblem(text) },
                                       accept: { [weak self] text in self?.saveMix(text) ?? [] }))]
        default:
            break
        }
        return []
    }

    private var emptyHint: String { "no membranes: a adds one (or start with --membrane PATH)" }

    private func addProblem(_ text: String) -> String? {
        guard models.loaded != nil else { return "no model is loaded yet: membranes attach to a model" }
        let choice: MembraneChoice
        do { choice = try MembraneChoice(parsing: text) } catch { return "\(error)" }
        let path = resolvePath(choice.path, in: workingDirectory)
        guard !choice.path.trimmingCharacters(in: .whitespaces).isEmpty else { return "enter a .safetensors path" }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return "no such file: \(path)"
        }
        return nil
    }

    private func add(_ text: String) -> [ScreenEffect] {
        guard var choice = try? MembraneChoice(parsing: text) else { return [] }
        choice.path = resolvePath(choice.path, in: workingDirectory)
        return [.startJob(AttachMembraneJob(choice: choice, store: models), .membranes),
                .log(LogEntry(.info, "reading membrane \(choice.path) …"))]
    }

    private func saveProblem(_ text: String) -> String? {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { return "enter a file name" }
        let path = resolvePath(text, in: workingDirectory)
        guard (path as NSString).pathExtension.lowercased() == "safetensors" else { return "expected a .safetensors file name" }
        return nil
    }

    private func saveMix(_ text: String) -> [ScreenEffect] {
        guard let loaded = models.loaded, loaded.files.count == rack.entries.count else {
            return [.hint("the membranes are still being attached: try again")]
        }
        let path = resolvePath(text, in: workingDirectory)
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
        } catch {
            return [.log(LogEntry(.error, "\(path): cannot create its folder (\(error.localizedDescription))"))]
        }
        let inputs = rack.mix.map { (file: loaded.files[$0.index], weight: $0.weight) }
        let layout = MembraneLayout(unet: loaded.models.unet.configuration)
        return [.startJob(MergeMembranesJob(inputs: inputs, layout: layout, output: path), .merge),
                .log(LogEntry(.info, "merging \(rack.mixDescription) into \(path) …"))]
    }

    public func receive(_ event: CoreEvent) -> Bool {
        switch event {
        case .transportGates(let number, let result) where number == gatesGeneration:
            switch result {
            case .success(let slots):
                gates = Dictionary(grouping: slots, by: \.membrane).mapValues { $0.map(\.explanation) }
                gatesState = .ready(prompt: gatesInput?.prompt ?? "")
            case .failure(let error):
                gates = [:]
                gatesState = .failed(error.description)
            }
            return true
        case .modelLoaded:
            rack.sync(with: models.loaded?.membranes ?? [])
        case .membranesAttached(let attached):
            rack.sync(with: attached)
            selected = max(0, attached.count - 1)
        default:
            return false
        }
        selected = max(0, min(selected, rack.entries.count - 1))
        return true
    }

    // MARK: Drawing

    public func draw(on surface: inout Surface, context: ScreenContext) {
        Panel(title: "Membrane rack (\(rack.entries.count))").draw(on: &surface) { inner in drawRack(on: &inner) }
    }

    /// "transport reference · gates for "a cat" · f switches, [ ] min_gate".
    private var transportLine: String {
        let status: String = switch gatesState {
        case .none: "gates: waiting for the model"
        case .computing: "gates: computing …"
        case .ready(let prompt): "gates for \"\(prompt)\""
        case .failed(let message): "gates: \(message)"
        }
        return "transport \(rack.transportName) · \(status) · f switches the measure, [ ] move min_gate"
    }

    private func drawRack(on surface: inout Surface) {
        guard surface.height > 0 else { return }
        guard models.loaded != nil else {
            surface.write(truncated("Waiting for the model: membranes attach to it (start with --model PATH).",
                                    toWidth: surface.width), x: 0, y: 0, role: .muted)
            return
        }
        guard !rack.entries.isEmpty else {
            surface.write(truncated("No membranes: press a to add one by path (or start with --membrane PATH).",
                                    toWidth: surface.width), x: 0, y: 0, role: .muted)
            return
        }
        let columnsWidth = MembraneRackScreen.columns.reduce(0) { $0 + $1.width + 2 }
        let nameWidth = max(4, surface.width - 4 - columnsWidth)
        var x = surface.write(padded("on  membrane", toWidth: 4 + nameWidth), x: 0, y: 0, role: .muted)
        for column in MembraneRackScreen.columns {
            x = surface.write("  " + padded(column.title, toWidth: column.width), x: x, y: 0, role: .muted)
        }
        let listHeight = max(0, surface.height - 4)
        let first = max(0, min(selected - listHeight + 1, rack.entries.count - listHeight))
        for (row, index) in rack.entries.indices.dropFirst(max(0, first)).prefix(listHeight).enumerated() {
            let entry = rack.entries[index]
            let role: ColorRole = index == selected ? .selection : (entry.isOn ? .text : .muted)
            let y = row + 1
            surface.write(padded("", toWidth: surface.width), x: 0, y: y, role: role)
            var x = surface.write(entry.isOn ? "[x] " : "[ ] ", x: 0, y: y, role: role)
            x = surface.write(padded(truncated(entry.name, toWidth: nameWidth), toWidth: nameWidth), x: x, y: y, role: role)
            for column in MembraneRackScreen.columns {
                let value = column.value(entry, gates[index] ?? [])
                x = surface.write("  " + String(repeating: " ", count: max(0, column.width - terminalWidth(of: value)))
                                  + truncated(value, toWidth: column.width), x: x, y: y, role: role)
            }
        }
        guard surface.height >= 4, rack.entries.indices.contains(selected) else { return }
        let footer = "mix: " + (rack.mix.isEmpty ? "(all off)" : rack.mixDescription)
        surface.write(truncated(transportLine, toWidth: surface.width), x: 0, y: surface.height - 3, role: .muted)
        surface.write(truncated(rack.entries[selected].path, toWidth: surface.width), x: 0, y: surface.height - 2,
                      role: .muted)
        surface.write(truncated(footer, toWidth: surface.width), x: 0, y: surface.height - 1, role: .accent)
    }
}
