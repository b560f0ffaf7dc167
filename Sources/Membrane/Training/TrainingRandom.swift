import Diffusion

/// The random draws of one training step, from the run's seed and the step's index alone (SplitMix64, the same
/// generator as the testbed world's). Because no generator state carries from step to step, a run resumed from a
/// checkpoint at step n draws exactly what the uninterrupted run drew from step n on: the checkpoint needs only n.
public struct TrainingRandom: RandomNumberGenerator, Sendable {
    private var generator: TestbedGenerator

    /// `stream` separates independent uses of the same (seed, step), e.g. factor initialisation per layer.
    public init(seed: UInt64, step: Int, stream: UInt64 = 0) {
        generator = TestbedGenerator(seed: seed ^ stream &* 0x94D0_49BB_1331_11EB, index: UInt64(step))
    }

    public mutating func next() -> UInt64 { generator.next() }

    /// Standard normal draws as PyTorch's CPU `randn` makes them for a seed drawn from this generator, so a
    /// step's noise can be reproduced in PyTorch.
    public mutating func gaussian(_ shape: [Int]) -> Tensor {
        Self.gaussian(shape, seed: next())
    }

    /// The draws `gaussian` makes from `seed`, for a seed drawn earlier.
    public static func gaussian(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = TorchGenerator(seed: seed)
        return Tensor(generator.randn(count: shape.reduce(1, *)), shape: shape)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
