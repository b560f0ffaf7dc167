import CKernels
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

    /// A new contiguous tensor with an elementwise kernel of CKernels applied (in chunks over the threads).
    func mapKernel(_ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let dense = contiguous()
        let result = Tensor(uninitializedShape: shape)
        let input = dense.elements, output = result.mutableElements
        withExtendedLifetime(dense.storage) {
            Parallel.forEachChunk(count: elementCount, minimumChunk: Parallel.elementGrain) { range in
                kernel(input + range.lowerBound, output + range.lowerBound, range.count)
            }
        }
        return result
    }

    // MARK: Arithmetic
    //
    // Each op records its gradient rule (Autograd/): the derivative is evaluated in one pass over the incoming
    // gradient and the saved operand, and a broadcast operand gets its gradient summed back to its own shape.

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        let (shapeA, shapeB) = (lhs.shape, rhs.shape)
        return combineElements(lhs, rhs, op: "add") { $0 + $1 }.recorded(from: [lhs, rhs]) { gradient in
            [gradient.summed(toShape: shapeA), gradient.summed(toShape: shapeB)]
        }
    }

    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        let (shapeA, shapeB) = (lhs.shape, rhs.shape)
        let needsB = rhs.requiresGradient
        return combineElements(lhs, rhs, op: "sub") { $0 - $1 }.recorded(from: [lhs, rhs]) { gradient in
            [gradient.summed(toShape: shapeA), needsB ? (-gradient).summed(toShape: shapeB) : nil]
        }
    }

    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        let (a, b) = (lhs.detached(), rhs.detached())
        let (needsA, needsB) = (lhs.requiresGradient, rhs.requiresGradient)
        return combineElements(lhs, rhs, op: "mul") { $0 * $1 }.recorded(from: [lhs, rhs]) { gradient in
            [needsA ? (gradient * b).summed(toShape: a.shape) : nil,
             needsB ? (gradient * a).summed(toShape: b.shape) : nil]
        }
    }

    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
        let (a, b) = (lhs.detached(), rhs.detached())
        let (needsA, needsB) = (lhs.requiresGradient, rhs.requiresGradient)
        let quotient = combineElements(lhs, rhs, op: "div") { $0 / $1 }
        let savedQuotient = quotient.detached()
        return quotient.recorded(from: [lhs, rhs]) { gradient in
            let gradientA = needsA || needsB ? gradient / b : nil  // d(a/b)/db = −(a/b)/b
            return [needsA ? gradientA!.summed(toShape: a.shape) : nil,
                    needsB ? (-(gradientA! * savedQuotient)).summed(toShape: b.shape) : nil]
        }
    }

    public static func + (lhs: Tensor, rhs: Float) -> Tensor {
        lhs.mapElements { $0 + rhs }.recorded(from: [lhs]) { [$0] }
    }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor {
        lhs.mapElements { $0 - rhs }.recorded(from: [lhs]) { [$0] }
    }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor {
        lhs.mapElements { $0 * rhs }.recorded(from: [lhs]) { [$0 * rhs] }
    }
    public static func / (lhs: Tensor, rhs: Float) -> Tensor {
        lhs.mapElements { $0 / rhs }.recorded(from: [lhs]) { [$0 / rhs] }
    }
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs + lhs }
    public static func - (lhs: Float, rhs: Tensor) -> Tensor {
        rhs.mapElements { lhs - $0 }.recorded(from: [rhs]) { [-$0] }
    }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs * lhs }
    public static func / (lhs: Float, rhs: Tensor) -> Tensor {
        let x = rhs.detached()
        return rhs.mapElements { lhs / $0 }.recorded(from: [rhs]) { gradient in
            [combineElements(gradient, x, op: "div backward") { g, x in -g * lhs / (x * x) }]
        }
    }
    public static prefix func - (operand: Tensor) -> Tensor {
        operand.mapElements { -$0 }.recorded(from: [operand]) { [-$0] }
    }

    /// Elementwise larger value (broadcasting); NaN wins, as in PyTorch. The gradient goes to the operand that
    /// was chosen (the first on ties).
    public static func maximum(_ first: Tensor, _ second: Tensor) -> Tensor {
        selecting(first, second, op: "maximum") { a, b in a.isNaN || a >= b }
    }

    /// Elementwise smaller value (broadcasting); NaN wins, as in PyTorch. The gradient goes to the operand that
    /// was chosen (the first on ties).
    public static func minimum(_ first: Tensor, _ second: Tensor) -> Tensor {
        selecting(first, second, op: "minimum") { a, b in a.isNaN || a <= b }
    }

    /// Elementwise choice between two operands: the first where `takesFirst`, else the second.
    private static func selecting(_ first: Tensor, _ second: Tensor, op: String,
                                  takesFirst: @escaping @Sendable (Float, Float) -> Bool) -> Tensor {
        let (a, b) = (first.detached(), second.detached())
        let (needsA, needsB) = (first.requiresGradient, second.requiresGradient)
        return combineElements(first, second, op: op) { takesFirst($0, $1) ? $0 : $1 }
            .recorded(from: [first, second]) { gradient in
                let choseFirst = combineElements(a, b, op: op) { takesFirst($0, $1) ? 1 : 0 }
                return [needsA ? (gradient * choseFirst).summed(toShape: a.shape) : nil,
                        needsB ? (gradient * (1 - choseFirst)).summed(toShape: b.shape) : nil]
            }
    }

    // MARK: Functions

    public func exp() -> Tensor {
        let result = mapKernel(spm_exp)
        let y = result.detached()
        return result.recorded(from: [self]) { [$0 * y] }
    }

    public func log() -> Tensor {
        let x = detached()
        return mapElements { Foundation.log($0) }.recorded(from: [self]) { [$0 / x] }
    }

    public func sqrt() -> Tensor {
        let result = mapElements { $0.squareRoot() }
        let y = result.detached()
        return result.recorded(from: [self]) { gradient in
            [Tensor.combineElements(gradient, y, op: "sqrt backward") { g, y in 0.5 * g / y }]
        }
    }

    public func rsqrt() -> Tensor {
        let result = mapElements { 1 / $0.squareRoot() }
        let y = result.detached()
        return result.recorded(from: [self]) { gradient in
            [Tensor.combineElements(gradient, y, op: "rsqrt backward") { g, y in -0.5 * g * y * y * y }]
        }
    }

    public func tanh() -> Tensor {
        let result = mapElements { Foundation.tanh($0) }
        let y = result.detached()
        return result.recorded(from: [self]) { gradient in
            [Tensor.combineElements(gradient, y, op: "tanh backward") { g, y in g * (1 - y * y) }]
        }
    }

    public func abs() -> Tensor {
        derivedElementwise(mapElements { Swift.abs($0) }, op: "abs") { x in x > 0 ? 1 : (x < 0 ? -1 : 0) }
    }

    public func sin() -> Tensor {
        derivedElementwise(mapElements { Foundation.sin($0) }, op: "sin") { Foundation.cos($0) }
    }

    public func cos() -> Tensor {
        derivedElementwise(mapElements { Foundation.cos($0) }, op: "cos") { -Foundation.sin($0) }
    }

    /// 1 / (1 + e^(−x)), computed without overflow for any x.
    public func sigmoid() -> Tensor {
        let result = mapKernel(spm_sigmoid)
        let y = result.detached()
        return result.recorded(from: [self]) { gradient in
            [Tensor.combineElements(gradient, y, op: "sigmoid backward") { g, y in g * y * (1 - y) }]
        }
    }

    /// x · sigmoid(x) (also called swish), the UNet's activation.
    public func silu() -> Tensor {
        derivedElementwise(mapKernel { spm_affine_silu($0, $1, $2, 1, 0) }, op: "silu") { x in
            let s = 1 / (1 + Foundation.exp(-x))
            return s * (1 + x * (1 - s))
        }
    }

    public func gelu(approximation: GELUApproximation = .none) -> Tensor {
        switch approximation {
        case .none:
            let x = detached()
            return mapKernel(spm_gelu).recorded(from: [self]) { [$0 * x.mapKernel(spm_gelu_derivative)] }
        case .tanh:
            let scale = Float(2 / Double.pi).squareRoot()
            let result = mapElements { x in 0.5 * x * (1 + Foundation.tanh(scale * (x + 0.044715 * x * x * x))) }
            return derivedElementwise(result, op: "gelu") { x in
                let t = Foundation.tanh(scale * (x + 0.044715 * x * x * x))
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * scale * (1 + 3 * 0.044715 * x * x)
            }
        }
    }

    /// Every element raised to `exponent` (x² and √x take exact fast paths).
    public func pow(_ exponent: Float) -> Tensor {
        let result: Tensor
        switch exponent {
        case 1: result = mapElements { $0 }
        case 2: result = mapElements { $0 * $0 }
        case 0.5: return sqrt()
        case -1: result = mapElements { 1 / $0 }
        default: result = mapElements { Foundation.pow($0, exponent) }
        }
        return derivedElementwise(result, op: "pow") { x in exponent * Foundation.pow(x, exponent - 1) }
    }

    /// Elements limited to `[lower, upper]` (either bound may be absent); the gradient passes where x is inside.
    public func clamped(min lower: Float? = nil, max upper: Float? = nil) -> Tensor {
        let low = lower ?? -.infinity, high = upper ?? .infinity
        precondition(low <= high, "clamp: min \(low) is above max \(high)")
        return derivedElementwise(mapElements { x in x.isNaN ? x : Swift.min(Swift.max(x, low), high) },
                                  op: "clamp") { x in x >= low && x <= high ? 1 : 0 }
    }

    /// `result` (f applied to this tensor) recorded with the gradient g · f′(x), f′ evaluated on the saved input.
    private func derivedElementwise(_ result: Tensor, op: String,
                                    _ derivative: @escaping @Sendable (Float) -> Float) -> Tensor {
        let x = detached()
        return result.recorded(from: [self]) { gradient in
            [Tensor.combineElements(gradient, x, op: op + " backward") { g, x in g * derivative(x) }]
        }
    }
}
