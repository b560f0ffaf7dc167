import Diffusion

/// The random draws of one training step, from the run's seed and the step's index alone (SplitMix64 on a
/// mix of the two). Because no generator state carries from step to step, a run resumed from a checkpoint at
/// step n draws exactly what the uninterrupted run drew from step n on: the checkpoint needs only n.
public struct TrainingRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64, step: Int, stream: UInt64 = 0) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(step) &* 0xD1B5_4A32_D192_ED03 ^ stream &* 0x94D0_49BB_1331_11EB
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard normal draws as PyTorch's CPU `randn` makes them for a seed drawn from this generator, so a
    /// step's noise can be reproduced in PyTorch.
    public mutating func gaussian(_ shape: [Int]) -> Tensor {
        var generator = TorchGenerator(seed: next())
        return Tensor(generator.randn(count: shape.reduce(1, *)), shape: shape)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
