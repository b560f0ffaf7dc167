// Reverse-mode gradients, define-by-run as in PyTorch: a tensor that needs a gradient carries a node saying how
// it was computed; every op whose operand carries one records a node for its result. The models are written
// once, on plain tensor ops, and the same forward code trains adapters (or whole models) and runs inference.
//
// Why nodes on tensors rather than a tape object passed around: the forward code of every model stays as it is,
// and a pass whose inputs need no gradient records nothing and costs nothing extra (one nil check per op).
// "No grad" is therefore a property of the inputs: `detached()` copies of trainable parameters run a pass
// without recording (the trainer's partial denoise), the parameters themselves run it with recording.
//
// What an op saves for its backward is decided when it runs, from which operands need gradients: a frozen
// linear layer keeps its weight (for the input's gradient) but not its input (only the weight's gradient would
// need it). That is "keep only what backward needs".

/// How a tensor was computed from tensors that need gradients: the nodes of those operands, and a function
/// from the gradient of the result to theirs. Immutable after creation, so shared freely between threads.
final class GradientNode: Sendable {
    /// The nodes of the op's operands, in operand order; nil for operands that need no gradient.
    let inputs: [GradientNode?]
    /// Maps the gradient of the result to one gradient per operand (nil where `inputs` is nil, or where the
    /// operand's gradient is zero). Nil for a leaf: a tensor made trainable by `requiringGradient()`.
    let backward: (@Sendable (Tensor) -> [Tensor?])?
    /// The shape of the tensor this node belongs to (gradients have the same shape).
    let shape: [Int]

    init(inputs: [GradientNode?], shape: [Int], backward: (@Sendable (Tensor) -> [Tensor?])?) {
        self.inputs = inputs
        self.shape = shape
        self.backward = backward
    }
}

extension Tensor {
    /// True when this tensor is trainable or was computed from a trainable tensor.
    public var requiresGradient: Bool { gradientNode != nil }

    /// The same values as a leaf of a gradient computation: a trainable parameter, or an input whose gradient
    /// is wanted. Each call makes a new leaf.
    public func requiringGradient() -> Tensor {
        var leaf = self
        leaf.gradientNode = GradientNode(inputs: [], shape: shape, backward: nil)
        return leaf
    }

    /// The same values outside any gradient computation (no storage copied).
    public func detached() -> Tensor {
        var plain = self
        plain.gradientNode = nil
        return plain
    }

    /// `self` — a result an op has just computed from `operands` — recorded so that gradients flow back to the
    /// operands that need them. `backward` gets the gradient of the result and returns one gradient per operand
    /// in order (nil for an operand that needs none; it is never asked to compute those, so it should check).
    /// Without any operand that needs a gradient nothing is recorded and `backward` is dropped unused.
    func recorded(from operands: [Tensor], backward: @escaping @Sendable (Tensor) -> [Tensor?]) -> Tensor {
        guard operands.contains(where: \.requiresGradient) else { return self }
        var result = self
        result.gradientNode = GradientNode(inputs: operands.map(\.gradientNode), shape: shape, backward: backward)
        return result
    }
}
