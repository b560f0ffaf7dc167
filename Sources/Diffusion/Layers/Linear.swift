/// PyTorch's `nn.Linear`: weight [out, in], optional bias [out]; applies to the last axis.
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?

    public init(_ parameters: ScopedParameters, inFeatures: Int, outFeatures: Int, bias hasBias: Bool = true) throws {
        weight = try parameters.tensor("weight", shape: [outFeatures, inFeatures])
        bias = hasBias ? try parameters.tensor("bias", shape: [outFeatures]) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Tensor.linear(input, weight: weight, bias: bias)
    }
}
