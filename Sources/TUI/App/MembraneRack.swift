import Foundation
import Membrane

/// One membrane in the rack. Facilitated transport's gate for the current prompt and the concept's `min_gate`
/// join here as fields, with a column each in `MembraneRackScreen.columns`.
public struct RackEntry: Equatable, Sendable {
    public var path: String
    /// The merge weight: the membrane's strength in generation and its factor in a merged file.
    public var weight: Float
    public var isOn: Bool

    public init(path: String, weight: Float, isOn: Bool = true) {
        self.path = path
        self.weight = weight
        self.isOn = isOn
    }

    public var name: String { MembraneChoice(path: path).name }
}

/// The membranes attached to the model, in gate order, with what the user set for each. Shared by the rack
/// (which edits it) and the generate screen (which generates with it); both live on the UI thread.
public final class MembraneRack {
    public static let weightStep: Float = 0.05
    /// Negative weights invert a membrane (`merge --weights` allows them); beyond ±2 images fall apart.
    public static let weightRange: ClosedRange<Float> = -2...2

    public private(set) var entries: [RackEntry] = []

    public init() {}

    /// Follows the attached list: entries already known keep their on/off and weight, new ones start on at the
    /// weight they were attached with.
    public func sync(with attached: [MembraneChoice]) {
        let known = entries
        entries = attached.enumerated().map { index, choice in
            if index < known.count, known[index].path == choice.path { return known[index] }
            return RackEntry(path: choice.path, weight: MembraneRack.clamped(choice.weight))
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
