/// PyTorch's `nn.Linear`: weight [out, in], optional bias [out]; applies to the last axis.
public struct Linear: Sendable {
    /// The fp32 weight [out, in]. A layer loaded with bf16 weights (`ScopedParameters.layerWeightPrecision`)
    /// holds them only in `oneDNNWeights`, and this reads them widened into a new tensor: no hot path reads it.
    /// Setting it gives the layer fp32 weights again.
    public var weight: Tensor {
        get { oneDNNWeights.floatWeights(storedWeight) }
        set { (storedWeight, oneDNNWeights) = (newValue, OneDNNWeightCache()) }
    }
    public var bias: Tensor?
    /// Membranes attached to this layer (nil: the frozen layer alone).
    public var adapter: LowRankAdapter?
    /// The weight as given, or a placeholder of its shape (no memory) when `oneDNNWeights` holds it.
    private var storedWeight: Tensor
    /// The bf16 copy of `weight` oneDNN reads, made on the first bf16 call and reused by every later one (the
    /// forward and the input gradient's product alike) — or made at load, holding the layer's only weights.
    private(set) var oneDNNWeights: OneDNNWeightCache

    public init(_ parameters: ScopedParameters, inFeatures: Int, outFeatures: Int, bias hasBias: Bool = true) throws {
        (storedWeight, oneDNNWeights) = OneDNNWeightCache.layerWeight(
            try parameters.tensor("weight", shape: [outFeatures, inFeatures]), in: parameters.layerWeightPrecision)
        bias = hasBias ? try parameters.tensor("bias", shape: [outFeatures]) : nil
    }

    public var inFeatures: Int { storedWeight.shape[1] }
    public var outFeatures: Int { storedWeight.shape[0] }

    /// Runs at `ComputeEnvironment.precision` (at bf16 always when it holds only bf16 weights); `gates`
    /// [batch, adapters] scale the attached adapters per sample (ignored without an adapter), which always run in
    /// fp32; `residual` (broadcastable to the output) is added in the layer's GEMM.
    public func callAsFunction(_ input: Tensor, gates: Tensor? = nil, adding residual: Tensor? = nil) -> Tensor {
        let base = Tensor.linear(input, weight: storedWeight, bias: bias, adding: residual,
                                 backend: ComputeEnvironment.backend,
                                 precision: oneDNNWeights.precision(ComputeEnvironment.precision),
                                 oneDNNWeights: oneDNNWeights)
        guard let adapter, let gates else { return base }
        return adapter.adding(to: base, tokens: input, gates: gates)
    }
}
