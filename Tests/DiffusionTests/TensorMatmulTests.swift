import CBLAS
import Testing
@testable import Diffusion

// Tolerance: a dot product of length k in fp32, summed in any order (BLAS blocks and uses FMA), is within
// γ_k·Σ|a||b| of the exact value, γ_k ≈ k·2⁻²⁴ (Higham, Accuracy and Stability, §3.1). We allow twice that per
// element, which can never flake, while a wrong index, transpose or batch is off by O(Σ|a||b|).

/// Naive batched product in Double with matmul's broadcasting, and the per-element error bound.
private func naiveMatmul(_ a: Tensor, _ b: Tensor) -> (values: [Double], bounds: [Double], shape: [Int]) {
    let a2 = a.rank == 1 ? a.unsqueezed(axis: 0) : a
    let b2 = b.rank == 1 ? b.unsqueezed(axis: 1) : b
    let (m, k, n) = (a2.shape[a2.rank - 2], a2.shape[a2.rank - 1], b2.shape[b2.rank - 1])
    let batch = naiveBroadcastShape(Array(a2.shape.dropLast(2)), Array(b2.shape.dropLast(2)))
    var values: [Double] = [], bounds: [Double] = []
    for batchIndex in allIndices(batch) {
        for i in 0..<m {
            for j in 0..<n {
                var total = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let x = broadcastElement(a2, at: batchIndex + [i, p])
                    let y = broadcastElement(b2, at: batchIndex + [p, j])
                    total += x * y
                    magnitude += abs(x * y)
                }
                values.append(total)
                bounds.append(2 * Double(k) * float32Roundoff * magnitude + 1e-12)
            }
        }
    }
    var shape = batch + [m, n]
    if b.rank == 1 { shape.removeLast() }
    if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }
    return (values, bounds, shape)
}

@Suite struct TensorMatmulTests {
    @Test func matrixProductsIncludingTransposedViews() {
        let a = randomTensor([7, 5], seed: 61), b = randomTensor([5, 9], seed: 62)
        let aT = randomTensor([5, 7], seed: 63).transposed()  // read by BLAS as a transpose, no copy
        let bT = randomTensor([9, 5], seed: 64).transposed()
        let strided = randomTensor([7, 10], seed: 65).sliced(axis: 1, 0..<10, step: 2)  // needs a dense copy
        let rowView = randomTensor([8, 9], seed: 66).narrowed(axis: 1, start: 2, length: 5)  // ld 9 > 5 columns
        let pairs = [(a, b), (aT, b), (a, bT), (aT, bT), (strided, b), (rowView, b.narrowed(axis: 1, start: 0, length: 4)),
                     (randomTensor([1, 5], seed: 67), bT), (a, randomTensor([5, 1], seed: 68))]
        for (x, y) in pairs {
            let expected = naiveMatmul(x, y)
            expectWithinBounds(Tensor.matmul(x, y), expected.values, bounds: expected.bounds, shape: expected.shape,
                               "matmul \(x.shape)/\(x.strides) · \(y.shape)/\(y.strides)")
        }
    }

    @Test func batchedProductsBroadcastBatchAxes() {
        let pairs: [(Tensor, Tensor)] = [
            (randomTensor([3, 4, 6], seed: 71), randomTensor([3, 6, 2], seed: 72)),
            (randomTensor([2, 3, 4, 6], seed: 73), randomTensor([6, 5], seed: 74)),  // folds into one GEMM
            (randomTensor([4, 6], seed: 75), randomTensor([2, 3, 6, 5], seed: 76)),
            (randomTensor([2, 1, 4, 6], seed: 77), randomTensor([3, 6, 5], seed: 78)),
            (randomTensor([3, 6, 4], seed: 79).transposed(), randomTensor([3, 5, 6], seed: 80).transposed()),
            (randomTensor([4, 2, 3, 6], seed: 81).permuted([1, 0, 2, 3]), randomTensor([1, 6, 3], seed: 82)),
            (randomTensor([2, 3, 6], seed: 83).transposed(0, 1), randomTensor([6, 2], seed: 84)),
        ]
        for (x, y) in pairs {
            let expected = naiveMatmul(x, y)
            expectWithinBounds(Tensor.matmul(x, y), expected.values, bounds: expected.bounds, shape: expected.shape,
                               "matmul \(x.shape) · \(y.shape)")
        }
    }

    @Test func vectorOperandsFollowPyTorch() {
        let v = randomTensor([6], seed: 91), w = randomTensor([6], seed: 92)
        let m = randomTensor([6, 4], seed: 93), batched = randomTensor([2, 3, 6], seed: 94)
        for (x, y) in [(v, m), (m.transposed(), v.narrowed(axis: 0, start: 0, length: 6)), (v, w), (batched, v)] {
            let expected = naiveMatmul(x, y)
            expectWithinBounds(Tensor.matmul(x, y), expected.values, bounds: expected.bounds, shape: expected.shape,
                               "matmul \(x.shape) · \(y.shape)")
        }
        #expect(Tensor.matmul(v, w).shape == [])
        #expect(Tensor.matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 2])).toArray() == [0, 0, 0, 0, 0, 0])
        #expect(Tensor.linear(Tensor.zeros([2, 0]), weight: Tensor.zeros([3, 0])).toArray() == [0, 0, 0, 0, 0, 0])
        #expect(Tensor.linear(Tensor.zeros([1, 0]), weight: Tensor.zeros([2, 0]), bias: Tensor([4, 5], shape: [2]))
            .toArray() == [4, 5])
    }

    @Test func linearMatchesPyTorchLayout() {
        let weight = randomTensor([5, 8], seed: 101), bias = randomTensor([5], seed: 102)
        let inputs = [randomTensor([8], seed: 103), randomTensor([3, 8], seed: 104),
                      randomTensor([2, 4, 8], seed: 105), randomTensor([8, 4], seed: 106).transposed()]
        let weights = [weight, randomTensor([8, 5], seed: 107).transposed(),
                       randomTensor([5, 16], seed: 108).sliced(axis: 1, 0..<16, step: 2)]
        for input in inputs {
            for w in weights {
                for b in [nil, bias] {
                    let product = naiveMatmul(input, w.transposed())
                    let biasValues = naiveValues(bias)
                    let expected = product.values.indices.map { product.values[$0] + (b == nil ? 0 : biasValues[$0 % 5]) }
                    // The bias is one more term of the sum: bound γ_(k+1)·(Σ|ab| + |bias|).
                    let bounds = product.values.indices.map {
                        product.bounds[$0] * 9 / 8 + 2 * 9 * float32Roundoff * abs(b == nil ? 0 : biasValues[$0 % 5])
                    }
                    expectWithinBounds(Tensor.linear(input, weight: w, bias: b), expected,
                                       bounds: bounds, shape: input.shape.dropLast() + [5],
                                       "linear \(input.shape) · \(w.shape)ᵀ bias \(b != nil)")
                }
            }
        }
    }
}

@Suite struct BLASLayoutTests {
    @Test func readsTransposesAndRowViewsWithoutCopying() {
        let plain = BLASMatrix(rows: 7, columns: 5, rowStride: 5, columnStride: 1)
        #expect(plain?.transpose == CblasNoTrans && plain?.leadingDimension == 5)
        let transposed = BLASMatrix(rows: 7, columns: 5, rowStride: 1, columnStride: 7)
        #expect(transposed?.transpose == CblasTrans && transposed?.leadingDimension == 7)
        let rowView = BLASMatrix(rows: 8, columns: 5, rowStride: 9, columnStride: 1)
        #expect(rowView?.transpose == CblasNoTrans && rowView?.leadingDimension == 9)
        #expect(BLASMatrix(rows: 7, columns: 5, rowStride: 10, columnStride: 2) == nil, "every other column")
        #expect(BLASMatrix(rows: 7, columns: 5, rowStride: 0, columnStride: 1) == nil, "broadcast rows")
    }
}
