import Foundation

// Elementwise ops. Binary ops broadcast as numpy/PyTorch do. Each op is one closure handed to a shared driver
// that is inlined into it, so the closure is inlined into the inner loops: a flat loop when the operands are
// dense and of one shape, a row-by-row strided loop otherwise.

/// How `gelu` evaluates the Gaussian CDF, as PyTorch's `approximate` argument.
public enum GELUApproximation: Sendable {
    /// x · Φ(x) with the exact error function (PyTorch `approximate="none"`).
    case none
    /// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³))) (PyTorch `approximate="tanh"`).
    case tanh
}

extension Tensor {
    // MARK: Drivers

    /// A new contiguous tensor with `transform` applied to every element.
    @inline(__always)
    func mapElements(_ transform: (Float) -> Float) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let output = result.mutableElements
        withExtendedLifetime(storage) {
            if isContiguous {
                let input = elements
                Parallel.forEachChunk(count: elementCount, minimumChunk: Parallel.elementGrain) { range in
                    for i in range { output[i] = transform(input[i]) }
                }
            } else {
                let input = elements
                let rows = StridedRows(shape: shape, strides: [result.strides, strides])
                let length = rows.rowLength, step = rows.innerStrides.1
                rows.forEachRowInParallel { outputOffset, inputOffset, _ in
                    let to = output + outputOffset, from = input + inputOffset
                    for i in 0..<length { to[i] = transform(from[i * step]) }
                }
            }
        }
        return result
    }

    /// A new contiguous tensor of the broadcast shape with `combine` applied to each pair of elements.
    @inline(__always)
    static func combineElements(_ first: Tensor, _ second: Tensor, op: String,
                                _ combine: (Float, Float) -> Float) -> Tensor {
        let shape = first.shape == second.shape ? first.shape : broadcastShape(first.shape, second.shape, op: op)
        let result = Tensor(uninitializedShape: shape)
        let output = result.mutableElements
        let a = first.elements, b = second.elements
        withExtendedLifetime((first.storage, second.storage)) {
            if first.shape == second.shape && first.isContiguous && second.isContiguous {
                Parallel.forEachChunk(count: result.elementCount, minimumChunk: Parallel.elementGrain) { range in
                    for i in range { output[i] = combine(a[i], b[i]) }
                }
                return
            }
            let rows = StridedRows(shape: shape, strides: [
                result.strides, first.broadcastStrides(to: shape, op: op), second.broadcastStrides(to: shape, op: op),
            ])
            let length = rows.rowLength
            let (_, stepA, stepB) = rows.innerStrides
            rows.forEachRowInParallel { outputOffset, offsetA, offsetB in
                let to = output + outputOffset, fromA = a + offsetA, fromB = b + offsetB
                if stepA == 1 && stepB == 1 {
                    for i in 0..<length { to[i] = combine(fromA[i], fromB[i]) }
                } else if stepA == 1 && stepB == 0 {  // a row against one value, e.g. bias per channel
                    let valueB = fromB[0]
                    for i in 0..<length { to[i] = combine(fromA[i], valueB) }
                } else {
                    for i in 0..<length { to[i] = combine(fromA[i * stepA], fromB[i * stepB]) }
                }
            }
        }
        return result
    }

    /// A new contiguous tensor with `transform` applied 16 elements at a time (for the vectorised functions
    /// of VectorMath.swift).
    @inline(__always)
    func mapVectors(_ transform: (FloatVector) -> FloatVector) -> Tensor {
        let dense = contiguous()
        let result = Tensor(uninitializedShape: shape)
        let input = dense.elements, output = result.mutableElements
        withExtendedLifetime(dense.storage) {
            Parallel.forEachChunk(count: elementCount, minimumChunk: Parallel.elementGrain) { range in
                transformVectors(input + range.lowerBound, output + range.lowerBound, count: range.count, transform)
            }
        }
        return result
    }

    // MARK: Arithmetic

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { combineElements(lhs, rhs, op: "add") { $0 + $1 } }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { combineElements(lhs, rhs, op: "sub") { $0 - $1 } }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { combineElements(lhs, rhs, op: "mul") { $0 * $1 } }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { combineElements(lhs, rhs, op: "div") { $0 / $1 } }

    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapElements { $0 + rhs } }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapElements { $0 - rhs } }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapElements { $0 * rhs } }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapElements { $0 / rhs } }
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapElements { lhs + $0 } }
    public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapElements { lhs - $0 } }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapElements { lhs * $0 } }
    public static func / (lhs: Float, rhs: Tensor) -> Tensor { rhs.mapElements { lhs / $0 } }
    public static prefix func - (operand: Tensor) -> Tensor { operand.mapElements { -$0 } }

    /// Elementwise larger value (broadcasting); NaN wins, as in PyTorch.
    public static func maximum(_ first: Tensor, _ second: Tensor) -> Tensor {
        combineElements(first, second, op: "maximum") { a, b in a.isNaN || a > b ? a : b }
    }

    /// Elementwise smaller value (broadcasting); NaN wins, as in PyTorch.
    public static func minimum(_ first: Tensor, _ second: Tensor) -> Tensor {
        combineElements(first, second, op: "minimum") { a, b in a.isNaN || a < b ? a : b }
    }

    // MARK: Functions

    public func exp() -> Tensor { mapVectors(exponential) }
    public func log() -> Tensor { mapElements { Foundation.log($0) } }
    public func sqrt() -> Tensor { mapElements { $0.squareRoot() } }
    public func rsqrt() -> Tensor { mapElements { 1 / $0.squareRoot() } }
    public func tanh() -> Tensor { mapElements { Foundation.tanh($0) } }
    public func abs() -> Tensor { mapElements { Swift.abs($0) } }
    public func sin() -> Tensor { mapElements { Foundation.sin($0) } }
    public func cos() -> Tensor { mapElements { Foundation.cos($0) } }

    /// 1 / (1 + e^(−x)), computed without overflow for any x.
    public func sigmoid() -> Tensor { mapVectors(logistic) }

    /// x · sigmoid(x) (also called swish), the UNet's activation.
    public func silu() -> Tensor { mapVectors { $0 * logistic($0) } }

    public func gelu(approximation: GELUApproximation = .none) -> Tensor {
        switch approximation {
        case .none:
            return mapElements { x in 0.5 * x * (1 + Foundation.erf(x * Float(0.5).squareRoot())) }
        case .tanh:
            let scale = Float(2 / Double.pi).squareRoot()
            return mapElements { x in 0.5 * x * (1 + Foundation.tanh(scale * (x + 0.044715 * x * x * x))) }
        }
    }

    /// Every element raised to `exponent` (x² and √x take exact fast paths).
    public func pow(_ exponent: Float) -> Tensor {
        switch exponent {
        case 1: return mapElements { $0 }
        case 2: return mapElements { $0 * $0 }
        case 0.5: return sqrt()
        case -1: return mapElements { 1 / $0 }
        default: return mapElements { Foundation.pow($0, exponent) }
        }
    }

    /// Elements limited to `[lower, upper]` (either bound may be absent).
    public func clamped(min lower: Float? = nil, max upper: Float? = nil) -> Tensor {
        let low = lower ?? -.infinity, high = upper ?? .infinity
        precondition(low <= high, "clamp: min \(low) is above max \(high)")
        return mapElements { x in x.isNaN ? x : Swift.min(Swift.max(x, low), high) }
    }
}
