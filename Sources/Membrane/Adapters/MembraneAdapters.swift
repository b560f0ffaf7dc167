import Diffusion

/// Membranes as the engine runs them: per layer, the membranes' factors concatenated along the rank, with α/r
/// folded into `up`, and membrane i's ranks scaled by gate i at run time. The output stays linear in every gate
/// and has no cross terms (the reference implementation scaled both factors and summed them; METHOD.md §1).
public enum MembraneAdapters {
    /// Adapters by diffusers layer path for `membranes` (gate i belongs to `membranes[i]`).
    public static func adapters(for membranes: [MembraneFile]) -> [String: LowRankAdapter] {
        let paths = Set(membranes.flatMap(\.layers.keys))
        var adapters: [String: LowRankAdapter] = [:]
        for path in paths {
            var down: [Float] = [], upColumns: [[Float]] = [], gates: [Int] = []
            var features: (in: Int, out: Int)?
            for (gate, membrane) in membranes.enumerated() {
                guard let layer = membrane.layers[path] else { continue }
                features = (layer.inFeatures, layer.outFeatures)
                down += layer.down
                for rank in 0..<layer.rank {
                    upColumns.append((0..<layer.outFeatures).map { layer.up[$0 * layer.rank + rank] * layer.scale })
                    gates.append(gate)
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
}
