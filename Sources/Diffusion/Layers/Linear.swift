/// PyTorch's `nn.Linear`: weight [out, in], optional bias [out]; applies to the last axis.
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    /// Membranes attached to this layer (nil: the frozen layer alone).
    public var adapter: LowRankAdapter?
    /// The bf16 copy of `weight` oneDNN reads, made on the first bf16 call and reused by every later one (the
    /// forward and the input gradient's product alike).
    let oneDNNWeights = OneDNNWeightCache()

    public init(_ parameters: ScopedParameters, inFeatures: Int, outFeatures: Int, bias hasBias: Bool = true) throws {
        weight = try parameters.tensor("weight", shape: [outFeatures, inFeatures])
        bias = hasBias ? try parameters.tensor("bias", shape: [outFeatures]) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Runs at `ComputeEnvironment.precision`; `gates` [batch, adapters] scale the attached adapters per sample
    /// (ignored without an adapter), which always run in fp32; `residual` (broadcastable to the output) is added
    /// in the layer's GEMM.
    public func callAsFunction(_ input: Tensor, gates: Tensor? = nil, adding residual: Tensor? = nil) -> Tensor {
        let base = Tensor.linear(input, weight: weight, bias: bias, adding: residual, backend: ComputeEnvironment.backend,
                                 precision: ComputeEnvironment.precision, oneDNNWeights: oneDNNWeights)
        guard let adapter, let gates else { return base }
        return adapter.adding(to: base, tokens: input, gates: gates)
    }
}
