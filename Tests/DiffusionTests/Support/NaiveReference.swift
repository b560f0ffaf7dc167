import Diffusion
import Testing

// The independent side of the tensor tests: plain index arithmetic over Double arrays. It reads tensors only
// through `element(at:)` (one dot product of index and strides), never through the engine's copy or op paths.

/// Every index of `shape` in row-major order.
func allIndices(_ shape: [Int]) -> [[Int]] {
    var indices: [[Int]] = [[]]
    for size in shape {
        indices = indices.flatMap { prefix in (0..<size).map { prefix + [$0] } }
    }
    return indices
}

/// Row-major position of `index` in `shape`.
func flatPosition(_ index: [Int], in shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// A tensor's elements as Doubles, row-major, read element by element through its strides.
func naiveValues(_ tensor: Tensor) -> [Double] {
    allIndices(tensor.shape).map { Double(tensor.element(at: $0)) }
}

/// Shape of a broadcast of two shapes (numpy rules), computed independently of the engine.
func naiveBroadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    let pa = Array(repeating: 1, count: rank - a.count) + a
    let pb = Array(repeating: 1, count: rank - b.count) + b
    return zip(pa, pb).map { max($0, $1) }
}

/// The element of `tensor` that an `index` of a larger broadcast shape reads.
func broadcastElement(_ tensor: Tensor, at index: [Int]) -> Double {
    let lead = index.count - tensor.rank
    let own = tensor.shape.indices.map { tensor.shape[$0] == 1 ? 0 : index[lead + $0] }
    return Double(tensor.element(at: own))
}

/// Checks `actual` against `expected` element by element: |a − e| ≤ absolute + relative·|e|.
func expectClose(_ actual: Tensor, _ expected: [Double], shape: [Int], absolute: Double = 1e-6,
                 relative: Double, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == shape, "shape \(comment)", sourceLocation: sourceLocation)
    guard actual.shape == shape else { return }
    let values = naiveValues(actual)
    var worst: (index: Int, excess: Double)? = nil
    for i in values.indices {
        let error = abs(values[i] - expected[i])
        let allowed = absolute + relative * abs(expected[i])
        let bothNaN = values[i].isNaN && expected[i].isNaN
        let sameInfinity = values[i].isInfinite && values[i] == expected[i]
        if !(error <= allowed) && !bothNaN && !sameInfinity && (worst == nil || error - allowed > worst!.excess) {
            worst = (i, error - allowed)
        }
    }
    if let worst {
        Issue.record("\(comment): element \(worst.index) is \(values[worst.index]), expected \(expected[worst.index])",
                     sourceLocation: sourceLocation)
    }
}

/// Checks `actual` against `expected` with a separate tolerance per element.
func expectWithinBounds(_ actual: Tensor, _ expected: [Double], bounds: [Double], shape: [Int],
                        _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == shape, "shape \(comment)", sourceLocation: sourceLocation)
    guard actual.shape == shape else { return }
    let values = naiveValues(actual)
    if let bad = values.indices.first(where: { !(abs(values[$0] - expected[$0]) <= bounds[$0]) }) {
        Issue.record("\(comment): element \(bad) is \(values[bad]), expected \(expected[bad]) ± \(bounds[bad])",
                     sourceLocation: sourceLocation)
    }
}

/// fp32's unit roundoff 2⁻²⁴: the relative error of one correctly rounded Float operation.
let float32Roundoff = 0x1p-24
