import Foundation
import Testing
@testable import Diffusion

// Tolerances: the engine computes each element with a few rounded fp32 steps (each ≤ 2⁻²⁴ relative) and glibc's
// float functions (≤ 1–2 ulp); the reference is the same formula in Double. A relative 1e-5 (≈ 170 ulp) leaves
// room for cancellation in 1 + erf(x) and 1 + e^x, and an absolute 1e-6 for results near zero, while a wrong
// formula, broadcast or index is off by far more (inputs are O(1)).

@Suite struct TensorElementwiseTests {
    /// Operand pairs: same shape, broadcasting both ways, scalars, and non-contiguous views.
    static let operandPairs: [(Tensor, Tensor)] = {
        let big = randomTensor([3, 4, 5], seed: 11)
        return [
            (randomTensor([2, 3], seed: 1), randomTensor([2, 3], seed: 2)),
            (randomTensor([4, 1, 3], seed: 3), randomTensor([5, 1], seed: 4)),
            (randomTensor([3], seed: 5), randomTensor([2, 4, 3], seed: 6)),
            (randomTensor([2, 3], seed: 7), Tensor(scalar: 0.75)),
            (big.permuted([2, 0, 1]), randomTensor([5, 3, 4], seed: 12)),
            (big.transposed(0, 2).narrowed(axis: 1, start: 1, length: 3), randomTensor([1, 3, 1], seed: 13)),
            (big.sliced(axis: 2, 0..<5, step: 2), big.narrowed(axis: 2, start: 0, length: 1)),
        ]
    }()

    /// Pairs big enough (> 2 × `Parallel.elementGrain` elements) to take the multi-threaded paths.
    static let largeOperandPairs: [(Tensor, Tensor)] = [
        (randomTensor([300, 257], seed: 14), randomTensor([300, 257], seed: 15)),  // flat path
        (randomTensor([260, 300], seed: 16).transposed(), randomTensor([260], seed: 17)),  // strided path
    ]

    static func checkBinary(_ op: (Tensor, Tensor) -> Tensor, _ reference: (Double, Double) -> Double,
                            name: String, divisorAwayFromZero: Bool = false, pairs: [(Tensor, Tensor)] = operandPairs) {
        for (a, b) in pairs {
            let b = divisorAwayFromZero ? b.abs() + 0.5 : b
            let shape = naiveBroadcastShape(a.shape, b.shape)
            let expected = allIndices(shape).map { reference(broadcastElement(a, at: $0), broadcastElement(b, at: $0)) }
            expectClose(op(a, b), expected, shape: shape, relative: 1e-5, "\(name) \(a.shape) \(b.shape)")
        }
    }

    @Test func arithmeticBroadcasts() {
        Self.checkBinary(+, +, name: "add")
        Self.checkBinary(-, -, name: "sub")
        Self.checkBinary(*, *, name: "mul")
        Self.checkBinary(/, /, name: "div", divisorAwayFromZero: true)
        Self.checkBinary(Tensor.maximum, { max($0, $1) }, name: "maximum")
        Self.checkBinary(Tensor.minimum, { min($0, $1) }, name: "minimum")
    }

    /// Runs multi-threaded whenever OpenBLAS has ≥ 2 threads (its default: one per core). The thread count is
    /// not forced here because other suites, running concurrently, test that setting.
    @Test func largeOperandsSplitAcrossThreads() {
        Self.checkBinary(*, *, name: "mul", pairs: Self.largeOperandPairs)
    }

    @Test func scalarOperands() {
        let x = randomTensor([3, 5], seed: 21).transposed()
        let values = naiveValues(x)
        let cases: [(Tensor, (Double) -> Double, String)] = [
            (x + 2, { $0 + 2 }, "x + 2"), (2 + x, { 2 + $0 }, "2 + x"),
            (x - 2, { $0 - 2 }, "x - 2"), (2 - x, { 2 - $0 }, "2 - x"),
            (x * 3, { $0 * 3 }, "x * 3"), (3 * x, { 3 * $0 }, "3 * x"),
            (x / 4, { $0 / 4 }, "x / 4"), (4 / (x + 2), { 4 / ($0 + 2) }, "4 / (x + 2)"),
            (-x, { -$0 }, "-x"),
        ]
        for (result, reference, name) in cases {
            expectClose(result, values.map(reference), shape: [5, 3], relative: 1e-6, name)
        }
    }

    @Test func functionsMatchDoubleFormulas() {
        let wide = randomTensor([6, 7], seed: 31, in: -12...12).transposed()
        let positive = randomTensor([4, 9], seed: 32, in: 0.01...20).permuted([1, 0])
        let gentle = randomTensor([2, 3, 4], seed: 33, in: -3...3).narrowed(axis: 2, start: 1, length: 3)
        let sqrtHalf = 0.5.squareRoot()
        let cases: [(Tensor, (Tensor) -> Tensor, (Double) -> Double, String)] = [
            (gentle, { $0.exp() }, { Foundation.exp($0) }, "exp"),
            (positive, { $0.log() }, { Foundation.log($0) }, "log"),
            (positive, { $0.sqrt() }, { $0.squareRoot() }, "sqrt"),
            (positive, { $0.rsqrt() }, { 1 / $0.squareRoot() }, "rsqrt"),
            (wide, { $0.tanh() }, { Foundation.tanh($0) }, "tanh"),
            (wide, { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, "sigmoid"),
            (wide, { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }, "silu"),
            (wide, { $0.gelu() }, { 0.5 * $0 * (1 + Foundation.erf($0 * sqrtHalf)) }, "gelu"),
            (wide, { $0.gelu(approximation: .tanh) },
             { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) },
             "gelu tanh"),
            (wide, { $0.abs() }, { Swift.abs($0) }, "abs"),
            (wide, { $0.sin() }, { Foundation.sin($0) }, "sin"),
            (wide, { $0.cos() }, { Foundation.cos($0) }, "cos"),
            (wide, { $0.pow(2) }, { $0 * $0 }, "pow 2"),
            (positive, { $0.pow(0.5) }, { $0.squareRoot() }, "pow 0.5"),
            (positive, { $0.pow(-1) }, { 1 / $0 }, "pow -1"),
            (positive, { $0.pow(1.7) }, { Foundation.pow($0, 1.7) }, "pow 1.7"),
            (wide, { $0.pow(3) }, { $0 * $0 * $0 }, "pow 3"),
            (wide, { $0.clamped(min: -1, max: 2) }, { min(max($0, -1), 2) }, "clamp"),
            (wide, { $0.clamped(min: 0.5) }, { max($0, 0.5) }, "clamp min"),
            (wide, { $0.clamped(max: -3) }, { min($0, -3) }, "clamp max"),
        ]
        for (input, op, reference, name) in cases {
            expectClose(op(input), naiveValues(input).map(reference), shape: input.shape, relative: 1e-5, name)
        }
    }

    @Test func extremeInputsStayFinite() {
        let x = Tensor([-1000, -200, 0, 200, 1000], shape: [5])
        #expect(x.sigmoid().toArray() == [0, 0, 0.5, 1, 1])
        #expect(x.silu().toArray() == [-0, -0, 0, 200, 1000])
        #expect(x.tanh().toArray() == [-1, -1, 0, 1, 1])
        #expect(x.gelu().toArray() == [-0, -0, 0, 200, 1000])
        #expect(Tensor([-100], shape: [1]).sigmoid().scalarValue > 0, "e^-100 is a subnormal float, not 0")
    }

    @Test func nanPropagatesThroughMaximumAndClamp() {
        let a = Tensor([.nan, 1, 2], shape: [3])
        let b = Tensor([0, .nan, 1], shape: [3])
        #expect(Tensor.maximum(a, b).toArray().map(\.isNaN) == [true, true, false])
        #expect(Tensor.minimum(a, b).toArray().map(\.isNaN) == [true, true, false])
        #expect(a.clamped(min: 0, max: 1).toArray()[0].isNaN)
    }
}
