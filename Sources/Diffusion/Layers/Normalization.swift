/// PyTorch's `nn.LayerNorm` over the last axis, with affine weight and bias.
public struct LayerNorm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
    public var epsilon: Float

    public init(_ parameters: ScopedParameters, features: Int, epsilon: Float = 1e-5) throws {
        weight = try parameters.tensor("weight", shape: [features])
        bias = try parameters.tensor("bias", shape: [features])
        self.epsilon = epsilon
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Tensor.layerNorm(input, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// PyTorch's `nn.GroupNorm` on [N, C, …]: statistics per sample over each group of C / groups channels and all
/// positions, then a per-channel affine transform.
public struct GroupNorm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
    public var groups: Int
    public var epsilon: Float

    public init(_ parameters: ScopedParameters, groups: Int, channels: Int, epsilon: Float = 1e-5) throws {
        weight = try parameters.tensor("weight", shape: [channels])
        bias = try parameters.tensor("bias", shape: [channels])
        self.groups = groups
        self.epsilon = epsilon
    }

    /// `followedBySiLU`: SiLU applied in the same pass (every ResnetBlock normalises, then activates).
    public func callAsFunction(_ input: Tensor, followedBySiLU: Bool = false) -> Tensor {
        Tensor.groupNorm(input, groups: groups, weight: weight, bias: bias, epsilon: epsilon,
                         followedBySiLU: followedBySiLU)
    }
}
