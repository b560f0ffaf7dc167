import Foundation

/// The library that runs the engine's fp32 products (at bf16 oneDNN runs them whatever this says). Models never
/// choose: `Conv2d`, `Linear` and attention ask `ComputeEnvironment.backend` on every call, so a benchmark can
/// compare both in one process.
public enum ComputeBackend: String, Sendable, CaseIterable {
    /// OpenBLAS sgemm (convolutions by im2col): the reference path.
    case openblas
    /// oneDNN: convolutions with weights reordered once into the layout it picks (1×1 ones stay on OpenBLAS),
    /// linear layers and attention's q·kᵀ and p·v as matmuls on the weights as they are.
    case onednn
}

/// The arithmetic of the linear layers' and convolutions' products (`Linear`, `Conv2d`).
public enum ComputePrecision: String, Codable, Sendable, CaseIterable {
    /// Single precision throughout, on `ComputeEnvironment.backend`: the exact path, the one the diffusers
    /// goldens and the gradient checks hold to.
    case fp32
    /// Operands rounded to bfloat16 (to nearest, ties to even) and products accumulated in fp32 by oneDNN's
    /// bf16 kernels, with fp32 results; everything else (norms, softmax, attention's scores, adapters, the
    /// backward passes) stays fp32. On CPUs with AVX-512 BF16 or AMX those kernels run about twice as fast as
    /// fp32 ones (BENCHMARKS.md, "bf16").
    case bf16
}

extension ComputeEnvironment {
    /// The environment variable that names the precision (`fp32` or `bf16`).
    public static let precisionVariable = "SPM_PRECISION"

    /// The precision named by `SPM_PRECISION`, else fp32 (also for a value that names no precision). Kept in
    /// the process environment for the reason `backend` is.
    public static var precision: ComputePrecision {
        precision(named: getenv(precisionVariable).map { String(cString: $0) })
    }

    /// The precision a `SPM_PRECISION` value names (any letter case), else fp32.
    static func precision(named value: String?) -> ComputePrecision {
        value.flatMap { ComputePrecision(rawValue: $0.lowercased()) } ?? .fp32
    }

    /// Chooses the precision for this process (and processes it starts).
    public static func setPrecision(_ precision: ComputePrecision) {
        setenv(precisionVariable, precision.rawValue, 1)
    }

    /// The environment variable that names the backend (`openblas` or `onednn`).
    public static let backendVariable = "SPM_COMPUTE"

    /// oneDNN takes 0.8–0.95 of OpenBLAS's time for a whole SD1.5 forward once it runs the linear layers and
    /// attention too (so OpenBLAS's threads no longer spin beside oneDNN's), but its reordered convolution
    /// weights cost a second copy (+2 GiB for SD1.5, BENCHMARKS.md "fp32 on oneDNN"). So OpenBLAS is the
    /// default; `SPM_COMPUTE=onednn` selects oneDNN.
    public static let defaultBackend = ComputeBackend.openblas

    /// The backend named by `SPM_COMPUTE`, else `defaultBackend` (also for a value that names no backend).
    /// The setting lives in the process environment, like the thread count lives in OpenBLAS: one copy, no
    /// Swift global to keep in step with it.
    public static var backend: ComputeBackend {
        backend(named: getenv(backendVariable).map { String(cString: $0) })
    }

    /// The backend a `SPM_COMPUTE` value names (any letter case), else `defaultBackend`.
    static func backend(named value: String?) -> ComputeBackend {
        value.flatMap { ComputeBackend(rawValue: $0.lowercased()) } ?? defaultBackend
    }

    /// Chooses the backend for this process (and processes it starts).
    public static func setBackend(_ backend: ComputeBackend) {
        setenv(backendVariable, backend.rawValue, 1)
    }
}

extension Tensor {
    /// conv2d (groups 1, no dilation) on `backend` at `precision`: the one entry point layers use, so no model
    /// knows which library ran. `oneDNNWeights` keeps oneDNN's reordered weights between calls (one cache per
    /// layer). Shapes oneDNN cannot run fall back to the fp32 im2col path, which also stays the reference in
    /// tests. At fp32 so do 1×1 stride-1 convolutions: there the OpenBLAS path is one plain GEMM over the NCHW
    /// planes, while oneDNN adds two activation reorders and measured slower (BENCHMARKS.md, "oneDNN
    /// convolution backend"). bf16 exists only in oneDNN, so at bf16 every convolution goes there. A convolution
    /// run on oneDNN also computes its input's gradient there (its weight's stays on the im2col path).
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: SpatialPair,
                              padding: SpatialPair, backend: ComputeBackend, precision: ComputePrecision = .fp32,
                              oneDNNWeights: OneDNNWeightCache, adding residual: Tensor? = nil) -> Tensor {
        let isPointwise = weight.rank == 4 && weight.shape[2] == 1 && weight.shape[3] == 1 && stride == 1
            && padding == 0
        if precision == .bf16 || (backend == .onednn && !isPointwise),
           let result = oneDNNConv2d(input.detached(), weight: weight.detached(), bias: bias?.detached(),
                                     stride: stride, padding: padding, precision: precision,
                                     weightCache: oneDNNWeights) {
            let recorded = recordingConvolution(result, input: input, weight: weight, bias: bias, stride: stride,
                                                padding: padding, dilation: 1, groups: 1, columnBudget: im2colElementBudget,
                                                oneDNN: (precision, oneDNNWeights))
            return residual.map { recorded + $0 } ?? recorded
        }
        return conv2d(input, weight: oneDNNWeights.floatWeights(weight), bias: bias, stride: stride, padding: padding,
                      adding: residual)
    }
}
