import Diffusion
import TestSupport

/// A dense tensor of `shape` with elements drawn uniformly from `range` by a seeded generator.
func randomTensor(_ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -1...1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let count = shape.reduce(1, *)
    return Tensor((0..<count).map { _ in Float.random(in: range, using: &generator) }, shape: shape)
}
