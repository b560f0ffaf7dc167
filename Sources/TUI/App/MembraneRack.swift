import Foundation
import Membrane

/// One membrane in the rack: what the user set for it (facilitated transport's gates for the current prompt
/// are computed from these and kept by `MembraneRackScreen`).
public struct RackEntry: Equatable, Sendable {
    public var path: String
    /// The merge weight: the membrane's strength in generation and its factor in a merged file.
    public var weight: Float
    public var isOn: Bool
    /// The lowest gate transport may give the membrane; nil: the floor its file records (0 when none).
    public var minGate: Float?

    public init(path: String, weight: Float, isOn: Bool = true, minGate: Float? = nil) {
        self.path = path
        self.weight = weight
        self.isOn = isOn
        self.minGate = minGate
    }

    public var name: String { MembraneChoice(path: path).name }
}

/// The membranes attached to the model, in gate order, with what the user set for each. Shared by the rack
/// (which edits it) and the generate screen (which generates with it); both live on the UI thread.
public final class MembraneRack {
    public static let weightStep: Float = 0.05
    /// Negative weights invert a membrane (`merge --weights` allows them); beyond ±2 images fall apart.
    public static let weightRange: ClosedRange<Float> = -2...2
    /// The `--transport` choices in the order the rack's key cycles through them.
    public static let transportChoices = TransportConfig.commandLineChoices

    public private(set) var entries: [RackEntry] = []
    /// How facilitated transport measures a prompt against the membranes' concepts (`--transport`).
    public private(set) var transport: TransportConfig

    public init(transport: TransportConfig = TransportConfig()) { self.transport = transport }

    /// Follows the attached list: entries already known keep their on/off and weight, new ones start on at the
    /// weight they were attached with.
    public func sync(with attached: [MembraneChoice]) {
        let known = entries
        entries = attached.enumerated().map { index, choice in
            if index < known.count, known[index].path == choice.path { return known[index] }
            return RackEntry(path: choice.path, weight: MembraneRack.clamped(choice.weight), minGate: choice.minGate)
        }
    }

    public func toggle(_ index: Int) {
        guard entries.indices.contains(index) else { return }
        entries[index].isOn.toggle()
    }

    /// Moves the weight by `steps` × 0.05, snapped to the step grid and clamped to ±2.
    public func adjustWeight(_ index: Int, steps: Int) {
        guard entries.indices.contains(index) else { return }
        let moved = entries[index].weight + Float(steps) * MembraneRack.weightStep
        entries[index].weight = MembraneRack.clamped((moved / MembraneRack.weightStep).rounded() * MembraneRack.weightStep)
    }

    /// Moves min_gate by `steps` × 0.05 within 0…1; one not set yet starts from `current` (the file's floor).
    public func adjustMinGate(_ index: Int, steps: Int, current: Float) {
        guard entries.indices.contains(index) else { return }
        let moved = (entries[index].minGate ?? current) + Float(steps) * MembraneRack.weightStep
        entries[index].minGate = min(max((moved / MembraneRack.weightStep).rounded() * MembraneRack.weightStep, 0), 1)
    }

    /// The `--transport` name of the measure in use: a similarity's name, or "off".
    public var transportName: String { transport.enabled ? transport.similarity.rawValue : "off" }

    /// The next measure: embeddings → reference → tokens → off → embeddings.
    public func cycleTransport() {
        let choices = MembraneRack.transportChoices
        let next = choices[((choices.firstIndex(of: transportName) ?? 0) + 1) % choices.count]
        transport = TransportConfig(commandLine: next) ?? TransportConfig()
    }

    /// Transport over the rack as it is set: each membrane at its weight (0 when off) with its min_gate.
    public var facilitatedTransport: RackTransport {
        RackTransport(configuration: transport, choices: entries.map {
            MembraneChoice(path: $0.path, weight: $0.isOn ? $0.weight : 0, minGate: $0.minGate)
        })
    }

    static func clamped(_ weight: Float) -> Float {
        min(max(weight, weightRange.lowerBound), weightRange.upperBound)
    }

    /// One gate per attached membrane, as `GenerationRequest.adapterGates` takes them: the weight when on, 0 off.
    public var gates: [Float] { entries.map { $0.isOn ? $0.weight : 0 } }

    /// The membranes that are on, by index, with their weights: the mix a merged file holds.
    public var mix: [(index: Int, weight: Float)] {
        entries.indices.filter { entries[$0].isOn }.map { ($0, entries[$0].weight) }
    }

    /// "name:0.95 other:1.00" for the membranes that are on.
    public var mixDescription: String {
        mix.map { "\(entries[$0.index].name):\(formatWeight($0.weight))" }.joined(separator: " ")
    }
}
