/// Low-rank updates added to a frozen layer: y = W x + Σ_i g_i · U_i D_i x, with several adapters concatenated
/// along the rank (U = [U_1 … U_N], D = [D_1; … ; D_N]) and one gate per adapter and per sample. The output is
/// linear in each gate, exact, and has no cross terms (METHOD.md §1). Scales (α/r, merge weights) are folded
/// into `up` by whoever builds the adapter.
public struct LowRankAdapter: Sendable {
    /// [rank, inFeatures].
    public let down: Tensor
    /// [outFeatures, rank].
    public let up: Tensor
    /// For each rank index, the gate (column of the gates tensor) that scales it.
    public let gateOfRank: [Int]

    public init(down: Tensor, up: Tensor, gateOfRank: [Int]) {
        precondition(down.rank == 2 && up.rank == 2 && down.shape[0] == up.shape[1] && gateOfRank.count == down.shape[0],
                     "LowRankAdapter: down \(down.shape), up \(up.shape), \(gateOfRank.count) gate indices do not fit")
        self.down = down.contiguous()
        self.up = up.contiguous()
        self.gateOfRank = gateOfRank
    }

    public var rank: Int { down.shape[0] }

    /// Gates per sample and rank index [batch, rank], from gates per sample and adapter [batch, adapters].
    func rankGates(_ gates: Tensor) -> Tensor {
        let (batch, adapters) = (gates.shape[0], gates.shape[1])
        let values = gates.contiguous().toArray()
        return Tensor(shape: [batch, rank]) { out in
            for sample in 0..<batch {
                for (index, gate) in gateOfRank.enumerated() {
                    precondition(gate < adapters, "LowRankAdapter: gate \(gate) but only \(adapters) gates given")
                    out[sample * rank + index] = values[sample * adapters + gate]
                }
            }
        }
    }

    /// `base` (the frozen layer's output) plus the update for x [batch, …, inFeatures] (a linear layer's input;
    /// gates are per sample, so the batch axis is required). The up-projection's GEMM adds onto `base`.
    func adding(to base: Tensor, tokens x: Tensor, gates: Tensor) -> Tensor {
        precondition(x.rank >= 2, "LowRankAdapter: input \(x.shape) has no batch axis for the per-sample gates")
        let projected = Tensor.linear(x, weight: down)                        // [batch, …, rank]
        let gateShape = [x.shape[0]] + Array(repeating: 1, count: x.rank - 2) + [rank]
        return Tensor.linear(projected * rankGates(gates).reshaped(gateShape), weight: up, adding: base)
    }

    /// `base` plus the update for x [batch, C, H, W] (a 1×1 convolution's input).
    func adding(to base: Tensor, image x: Tensor, gates: Tensor) -> Tensor {
        let projected = Tensor.conv2d(x, weight: down.reshaped([rank, down.shape[1], 1, 1]))
        let gated = projected * rankGates(gates).reshaped([x.shape[0], rank, 1, 1])
        return Tensor.conv2d(gated, weight: up.reshaped([up.shape[0], rank, 1, 1]), adding: base)
    }
}
