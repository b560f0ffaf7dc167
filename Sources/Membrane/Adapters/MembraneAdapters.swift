import Diffusion

/// One gate of the attached membranes: a rank slice of one membrane and the concepts that slice carries. A plain
/// membrane has one slot; a merged one has a slot per concept slice, so each concept keeps its own gate.
public struct MembraneGateSlot: Sendable, Equatable {
    /// Index of the membrane (in the order they were attached).
    public var membrane: Int
    /// Rank indices of the membrane (the same in every layer) this gate scales.
    public var ranks: Range<Int>
    /// The concepts whose slices cover these ranks. Empty for ranks no concept claims (a file that records no
    /// concept, or the slice a plain LoRA got in a merge): those act at the membrane's weight on every prompt.
    public var concepts: [String]

    public init(membrane: Int, ranks: Range<Int>, concepts: [String]) {
        self.membrane = membrane
        self.ranks = ranks
        self.concepts = concepts
    }
}

/// Membranes as the engine runs them: per layer, the membranes' factors concatenated along the rank, with α/r
/// folded into `up`, and each gate slot's ranks scaled by that slot's gate at run time. The output stays linear
/// in every gate and has no cross terms (the reference implementation scaled both factors and summed them;
/// METHOD.md §1).
public enum MembraneAdapters {
    /// The gates of `membranes`, in order: each membrane's rank axis cut at its concepts' slice boundaries, one
    /// slot per piece. Concepts of the research code's files (and of our single-concept files) all own the whole
    /// rank, so such a file has one slot whose concepts are all of its concepts.
    public static func gateSlots(for membranes: [MembraneFile]) -> [MembraneGateSlot] {
        var slots: [MembraneGateSlot] = []
        for (index, membrane) in membranes.enumerated() {
            let rank = max(membrane.rank, 1)
            var cuts = Set([0, rank])
            for concept in membrane.concepts {
                cuts.insert(min(concept.ranks.lowerBound, rank))
                cuts.insert(min(concept.ranks.upperBound, rank))
            }
            let bounds = cuts.sorted()
            for (start, end) in zip(bounds, bounds.dropFirst()) {
                var covering: [String] = []
                for concept in membrane.concepts where concept.ranks.contains(start) && !covering.contains(concept.name) {
                    covering.append(concept.name)
                }
                slots.append(MembraneGateSlot(membrane: index, ranks: start..<end, concepts: covering))
            }
        }
        return slots
    }

    /// Adapters by diffusers layer path for `membranes`; gate column i belongs to `gateSlots(for: membranes)[i]`.
    public static func adapters(for membranes: [MembraneFile]) -> [String: LowRankAdapter] {
        let slots = gateSlots(for: membranes)
        let paths = Set(membranes.flatMap(\.layers.keys))
        var adapters: [String: LowRankAdapter] = [:]
        for path in paths {
            var down: [Float] = [], upColumns: [[Float]] = [], gates: [Int] = []
            var features: (in: Int, out: Int)?
            for (index, membrane) in membranes.enumerated() {
                guard let layer = membrane.layers[path] else { continue }
                features = (layer.inFeatures, layer.outFeatures)
                down += layer.down
                for rank in 0..<layer.rank {
                    upColumns.append((0..<layer.outFeatures).map { layer.up[$0 * layer.rank + rank] * layer.scale })
                    gates.append(slots.firstIndex { $0.membrane == index && $0.ranks.contains(rank) } ?? 0)
                }
            }
            guard let features else { continue }
            let rank = gates.count
            let up = (0..<features.out).flatMap { row in upColumns.map { $0[row] } }
            adapters[path] = LowRankAdapter(down: Tensor(down, shape: [rank, features.in]),
                                            up: Tensor(up, shape: [features.out, rank]), gateOfRank: gates)
        }
        return adapters
    }

    /// Gates without facilitated transport: every slot at its membrane's weight (a plain LoRA at that strength).
    public static func gates(perMembrane weights: [Float], slots: [MembraneGateSlot]) -> [Float] {
        slots.map { weights[$0.membrane] }
    }
}
