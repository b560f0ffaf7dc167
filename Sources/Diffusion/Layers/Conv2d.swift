/// PyTorch's `nn.Conv2d` with square kernels: weight [out, in, k, k], bias [out].
public struct Conv2d: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public var stride: Int
    public var padding: Int
    /// oneDNN's reordered copies of `weight` (fp32, bf16), made on the first oneDNN call and reused by later ones.
    let oneDNNWeights = OneDNNWeightCache()
    /// Membranes attached to this (1×1) convolution (nil: the frozen layer alone).
    public var adapter: LowRankAdapter?

    public init(_ parameters: ScopedParameters, inChannels: Int, outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias hasBias: Bool = true) throws {
        weight = try parameters.tensor("weight", shape: [outChannels, inChannels, kernel, kernel])
        bias = hasBias ? try parameters.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }

    /// Runs on `ComputeEnvironment.backend` at `ComputeEnvironment.precision`; `gates` [batch, adapters] scale
    /// the attached adapters per sample (fp32 always); `residual` (broadcastable to the output) is added in the
    /// convolution's GEMM.
    public func callAsFunction(_ input: Tensor, gates: Tensor? = nil, adding residual: Tensor? = nil) -> Tensor {
        let base = callAsFunction(input, backend: ComputeEnvironment.backend, precision: ComputeEnvironment.precision,
                                  adding: residual)
        guard let adapter, let gates else { return base }
        return adapter.adding(to: base, image: input, gates: gates)
    }

    public func callAsFunction(_ input: Tensor, backend: ComputeBackend, precision: ComputePrecision = .fp32,
                               adding residual: Tensor? = nil) -> Tensor {
        Tensor.conv2d(input, weight: weight, bias: bias, stride: SpatialPair(stride, stride),
                      padding: SpatialPair(padding, padding), backend: backend, precision: precision,
                      oneDNNWeights: oneDNNWeights, adding: residual)
    }
}
