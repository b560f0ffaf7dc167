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
        let axis = input.rank - 1
        let centred = input - input.mean(axis: axis, keepDims: true)
        let variance = (centred * centred).mean(axis: axis, keepDims: true)
        return centred * (variance + epsilon).rsqrt() * weight + bias
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

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let (batch, channels) = (input.shape[0], input.shape[1])
        let grouped = input.reshaped([batch, groups, input.elementCount / (batch * groups)])
        let centred = grouped - grouped.mean(axis: 2, keepDims: true)
        let inverseDeviation = ((centred * centred).mean(axis: 2, keepDims: true) + epsilon).rsqrt()
        let normalised = (centred * inverseDeviation).reshaped(input.shape)
        let affineShape = [1, channels] + Array(repeating: 1, count: input.rank - 2)
        return normalised * weight.reshaped(affineShape) + bias.reshaped(affineShape)
    }
}
