import Foundation
import Testing
@testable import Diffusion

// Tolerances: the engine sums in Double and rounds once to Float, so sums, means and variances are within a
// few fp32 roundings of the Double reference: relative 1e-6 (≈ 17 ulp) plus 1e-6 absolute for sums that cancel
// to near zero. max/argmax are exact. softmax rounds each e^x in fp32 before summing: relative 1e-5.

/// A naive reduction: groups the elements of `tensor` by their index on the kept axes.
private func naiveReduce(_ tensor: Tensor, axes: [Int], keepDims: Bool,
                         _ reduce: ([Double]) -> Double) -> (values: [Double], shape: [Int]) {
    let reduced = Set(axes.map { $0 < 0 ? $0 + tensor.rank : $0 })
    let outputShape = tensor.shape.indices.map { reduced.contains($0) ? 1 : tensor.shape[$0] }
    var groups = [[Double]](repeating: [], count: outputShape.reduce(1, *))
    for index in allIndices(tensor.shape) {
        let outputIndex = index.indices.map { reduced.contains($0) ? 0 : index[$0] }
        groups[flatPosition(outputIndex, in: outputShape)].append(Double(tensor.element(at: index)))
    }
    let shape = keepDims ? outputShape : tensor.shape.indices.filter { !reduced.contains($0) }.map { tensor.shape[$0] }
    return (groups.map(reduce), shape)
}

@Suite struct TensorReductionTests {
    static let inputs: [Tensor] = [
        randomTensor([3, 4, 5], seed: 41),
        randomTensor([4, 3, 6], seed: 42).permuted([2, 0, 1]),
        randomTensor([2, 5, 7], seed: 43).sliced(axis: 2, 0..<7, step: 3),
        randomTensor([4, 1, 3], seed: 44).expanded(to: [2, 4, 5, 3]),
    ]

    static func axisSets(rank: Int) -> [[Int]] {
        var sets = (0..<rank).map { [$0] } + [[-1], Array(0..<rank)]
        if rank >= 3 { sets += [[0, 2], [1, -1]] }
        return sets
    }

    @Test func sumMeanVarianceMaxAlongAxes() {
        for input in Self.inputs {
            for axes in Self.axisSets(rank: input.rank) {
                for keepDims in [false, true] {
                    let label = "\(input.shape) axes \(axes) keepDims \(keepDims)"
                    let sum = naiveReduce(input, axes: axes, keepDims: keepDims) { $0.reduce(0, +) }
                    expectClose(input.sum(axes: axes, keepDims: keepDims), sum.values, shape: sum.shape,
                                relative: 1e-6, "sum \(label)")
                    let mean = naiveReduce(input, axes: axes, keepDims: keepDims) { $0.reduce(0, +) / Double($0.count) }
                    expectClose(input.mean(axes: axes, keepDims: keepDims), mean.values, shape: mean.shape,
                                relative: 1e-6, "mean \(label)")
                    for correction in [0, 1] {
                        let variance = naiveReduce(input, axes: axes, keepDims: keepDims) { values in
                            let mean = values.reduce(0, +) / Double(values.count)
                            return values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - correction)
                        }
                        expectClose(input.variance(axes: axes, keepDims: keepDims, correction: correction),
                                    variance.values, shape: variance.shape, relative: 1e-6, "variance \(label)")
                    }
                    let max = naiveReduce(input, axes: axes, keepDims: keepDims) { $0.max()! }
                    expectClose(input.max(axes: axes, keepDims: keepDims), max.values, shape: max.shape,
                                absolute: 0, relative: 0, "max \(label)")
                }
            }
        }
    }

    @Test func fullReductionsAndSingleAxisForms() {
        let x = randomTensor([3, 7], seed: 45).transposed()
        let values = naiveValues(x)
        #expect(x.sum().shape == [])
        #expect(abs(Double(x.sum().scalarValue) - values.reduce(0, +)) <= 1e-6)
        #expect(abs(Double(x.mean().scalarValue) - values.reduce(0, +) / 21) <= 1e-7)
        #expect(Double(x.max().scalarValue) == values.max())
        #expect(x.sum(axis: 1, keepDims: true).toArray() == x.sum(axes: [1], keepDims: true).toArray())
        #expect(x.variance(axis: 0).shape == [3])
        // A long row, as in GroupNorm: Double accumulation keeps the mean of 10⁶ values of 1 + 1e-3 exact.
        let long = Tensor.full([1_000_000], value: 1.001)
        #expect(abs(long.mean().scalarValue - 1.001) <= 1e-7)
        #expect(long.variance(axes: [0]).scalarValue == 0)
    }

    @Test func argmaxFindsTheFirstLargest() {
        let input = randomTensor([4, 6, 5], seed: 46).permuted([1, 2, 0])
        for axis in 0..<3 {
            let result = input.argmax(axis: axis)
            for index in allIndices(result.shape) {
                var candidates: [Double] = []
                for position in 0..<input.shape[axis] {
                    var full = index
                    full.insert(position, at: axis)
                    candidates.append(Double(input.element(at: full)))
                }
                #expect(Int(result.element(at: index)) == candidates.firstIndex(of: candidates.max()!)!)
            }
        }
        #expect(input.argmax(axis: 1, keepDims: true).shape == [6, 1, 4])
        let ties = Tensor([1, 3, 3, 2], shape: [4])
        #expect(ties.argmax() == 1 && ties.argmax(axis: 0).scalarValue == 1)
        let flat = naiveValues(input)
        #expect(input.argmax() == flat.firstIndex(of: flat.max()!)!)
        #expect(Tensor([1, .nan, 5], shape: [3]).argmax() == 1, "NaN counts as the largest, as in PyTorch")
    }

    @Test func softmaxAndLogSoftmaxAreStable() {
        let inputs = [
            randomTensor([3, 4, 5], seed: 47, in: -5...5),
            randomTensor([5, 4, 3], seed: 48, in: -5...5).permuted([2, 1, 0]),
            randomTensor([2, 6], seed: 49, in: 900...1000),  // would overflow e^x without the max shift
            randomTensor([2, 6], seed: 50, in: -1000 ... -900),
        ]
        for input in inputs {
            for axis in 0..<input.rank {
                var expected = [Double](repeating: 0, count: input.elementCount)
                var expectedLog = expected
                for index in allIndices(input.shape) {
                    var line: [Double] = []
                    for position in 0..<input.shape[axis] {
                        var other = index
                        other[axis] = position
                        line.append(Double(input.element(at: other)))
                    }
                    let largest = line.max()!
                    let logTotal = largest + Foundation.log(line.map { Foundation.exp($0 - largest) }.reduce(0, +))
                    let x = Double(input.element(at: index))
                    expected[flatPosition(index, in: input.shape)] = Foundation.exp(x - logTotal)
                    expectedLog[flatPosition(index, in: input.shape)] = x - logTotal
                }
                expectClose(input.softmax(axis: axis), expected, shape: input.shape, absolute: 1e-7, relative: 1e-5,
                            "softmax \(input.shape) axis \(axis)")
                // log-softmax values are differences of numbers up to 1000, each exact to ½ ulp (6e-5 at 1000).
                expectClose(input.logSoftmax(axis: axis), expectedLog, shape: input.shape, absolute: 2e-4,
                            relative: 1e-5, "logSoftmax \(input.shape) axis \(axis)")
            }
        }
    }

    /// Enough rows (> 2 × `Parallel.elementGrain` elements) that the row loops split across threads.
    @Test func largeInputsSplitAcrossThreads() {
        let input = randomTensor([70, 1000], seed: 51, in: -4...4)
        let rows = (0..<70).map { row in (0..<1000).map { Double(input[row, $0]) } }
        expectClose(input.sum(axis: -1), rows.map { $0.reduce(0, +) }, shape: [70], relative: 1e-6, "sum")
        let softmax = rows.flatMap { row in
            let total = row.map { Foundation.exp($0) }.reduce(0, +)
            return row.map { Foundation.exp($0) / total }
        }
        expectClose(input.softmax(axis: 1), softmax, shape: [70, 1000], absolute: 1e-9, relative: 1e-5, "softmax")
    }
}
