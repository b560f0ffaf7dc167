/// PyTorch's `nn.Conv2d` with square kernels: weight [out, in, k, k], bias [out].
public struct Conv2d: Sendable {
    /// The fp32 weight [out, in, k, k]; as `Linear.weight`, widened from bf16 when the layer holds only those.
    public var weight: Tensor {
        get { oneDNNWeights.floatWeights(storedWeight) }
        set { (storedWeight, oneDNNWeights) = (newValue, OneDNNWeightCache()) }
    }
    public var bias: Tensor?
    public var stride: Int
    public var padding: Int
    /// Membranes attached to this (1×1) convolution (nil: the frozen layer alone).
    public var adapter: LowRankAdapter?
    /// The weight as given, or a placeholder of its shape (no memory) when `oneDNNWeights` holds it.
    private var storedWeight: Tensor
    /// oneDNN's reordered copies of `weight` (fp32, bf16), made on the first oneDNN call and reused by later
    /// ones — from the bf16 values it holds, for a layer loaded with bf16 weights.
    private(set) var oneDNNWeights: OneDNNWeightCache

    public init(_ parameters: ScopedParameters, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias hasBias: Bool = true) throws {
        (storedWeight, oneDNNWeights) = OneDNNWeightCache.layerWeight(
            try parameters.tensor("weight", shape: [outChannels, inChannels, kernel, kernel]),
            in: parameters.layerWeightPrecision)
        bias = hasBias ? try parameters.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }

    public var inChannels: Int { storedWeight.shape[1] }
    public var outChannels: Int { storedWeight.shape[0] }

    /// Runs on `ComputeEnvironment.backend` at `ComputeEnvironment.precision`; `gates` [batch, adapters] scale
    /// the attached adapters per sample (fp32 always); `residual` (broadcastable to the output) is added in the
    /// convolution's GEMM.
    public func callAsFunction(_ input: Tensor, gates: Tensor? = nil, adding residual: Tensor? = nil) -> Tensor {
        let base = callAsFunction(input, backend: ComputeEnvironment.backend, precision: ComputeEnvironment.precision,
                                  adding: residual)
        guard let adapter, let gates else { return base }
        return adapter.adding(to: base, image: input, gates: gates)
    }

    /// At `precision`, or at bf16 when the layer holds only bf16 weights.
    public func callAsFunction(_ input: Tensor, backend: ComputeBackend, precision: ComputePrecision = .fp32,
                               adding residual: Tensor? = nil) -> Tensor {
        Tensor.conv2d(input, weight: storedWeight, bias: bias, stride: SpatialPair(stride, stride),
                      padding: SpatialPair(padding, padding), backend: backend,
                      precision: oneDNNWeights.precision(precision),
                      oneDNNWeights: oneDNNWeights, adding: residual)
    }
}
