import CKernels
import Foundation

// Reductions along axes, and softmax. Each reduction moves the reduced axes to the end and makes the tensor
// dense (free when they already are the trailing axes, the common case for norms and softmax), then reduces
// rows. Sums accumulate in Double, so long rows (GroupNorm reduces ~10⁶ elements) lose no precision.

extension Tensor {
    // MARK: Driver

    /// Reduces `axes` with `reduceRow(pointer, length)`, one output per combination of the kept axes.
    @inline(__always)
    func reduceRows(axes: [Int], keepDims: Bool, op: String,
                    _ reduceRow: (UnsafePointer<Float>, Int) -> Float) -> Tensor {
        let reduced = normalizedAxes(axes, op: op)
        let kept = (0..<rank).filter { !reduced.contains($0) }
        let rows = permuted(kept + reduced).contiguous()
        let rowLength = reduced.map { shape[$0] }.reduce(1, *)
        let outputShape = keepDims
            ? shape.indices.map { reduced.contains($0) ? 1 : shape[$0] }
            : kept.map { shape[$0] }
        let result = Tensor(uninitializedShape: outputShape)
        let output = result.mutableElements, input = rows.elements
        withExtendedLifetime(rows.storage) {
            let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(rowLength, 1))
            Parallel.forEachChunk(count: result.elementCount, minimumChunk: minimumRows) { range in
                for row in range { output[row] = reduceRow(input + row * rowLength, rowLength) }
            }
        }
        return result
    }

    // MARK: Sum, mean, variance, max

    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let inputShape = shape, keptShape = reducedShape(axes, op: "sum")
        return reduceRows(axes: axes, keepDims: keepDims, op: "sum") { Float(sumOfRow($0, $1)) }
            .recorded(from: [self]) { [$0.reshaped(keptShape).expanded(to: inputShape)] }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Sum of all elements, as a rank-0 tensor.
    public func sum() -> Tensor { sum(axes: Array(0..<rank)) }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let inputShape = shape, keptShape = reducedShape(axes, op: "mean")
        let count = Float(Swift.max(inputShape.elementCount / Swift.max(keptShape.elementCount, 1), 1))
        return reduceRows(axes: axes, keepDims: keepDims, op: "mean") { Float(sumOfRow($0, $1) / Double($1)) }
            .recorded(from: [self]) { [($0 / count).reshaped(keptShape).expanded(to: inputShape)] }
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }
    public func mean() -> Tensor { mean(axes: Array(0..<rank)) }

    /// Σ(x − mean)² / (n − correction), by two passes in Double. `correction` 0 is the population variance that
    /// GroupNorm and LayerNorm use; PyTorch's `var` defaults to 1 (Bessel's correction).
    public func variance(axes: [Int], keepDims: Bool = false, correction: Int = 0) -> Tensor {
        let x = detached(), keptShape = reducedShape(axes, op: "variance")
        let count = Float(shape.elementCount / Swift.max(keptShape.elementCount, 1))
        // d var / dx = 2 (x − mean) / (n − correction)
        return reduceRows(axes: axes, keepDims: keepDims, op: "variance") { row, length in
            let mean = sumOfRow(row, length) / Double(length)
            var squares = 0.0
            for i in 0..<length {
                let deviation = Double(row[i]) - mean
                squares += deviation * deviation
            }
            return Float(squares / Double(length - correction))
        }.recorded(from: [self]) { gradient in
            let centred = x - x.mean(axes: axes, keepDims: true)
            return [centred * (gradient.reshaped(keptShape) * (2 / (count - Float(correction))))]
        }
    }

    public func variance(axis: Int, keepDims: Bool = false, correction: Int = 0) -> Tensor {
        variance(axes: [axis], keepDims: keepDims, correction: correction)
    }

    public func max(axes: [Int], keepDims: Bool = false) -> Tensor {
        precondition(!requiresGradient, "max: no gradient is defined; use softmax or maximum")
        precondition(axes.allSatisfy { shape[normalizedAxis($0, op: "max")] > 0 }, "max: empty axis in shape \(shape)")
        return reduceRows(axes: axes, keepDims: keepDims, op: "max") { row, length in row[largestIndex(row, length)] }
    }

    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func max() -> Tensor { max(axes: Array(0..<rank)) }

    /// The shape of a reduction over `axes` with the reduced axes kept as size 1 (the shape its gradient is
    /// broadcast from).
    private func reducedShape(_ axes: [Int], op: String) -> [Int] {
        let reduced = normalizedAxes(axes, op: op)
        return shape.indices.map { reduced.contains($0) ? 1 : shape[$0] }
    }

    // MARK: Argmax

    /// Index of the largest entry along `axis` (the first one on ties; NaN counts as largest), stored as Float
    /// (exact for indices below 2²⁴).
    public func argmax(axis: Int, keepDims: Bool = false) -> Tensor {
        precondition(shape[normalizedAxis(axis, op: "argmax")] > 0, "argmax: empty axis \(axis) in shape \(shape)")
        return reduceRows(axes: [axis], keepDims: keepDims, op: "argmax") { Float(largestIndex($0, $1)) }
    }

    /// Row-major flat index of the largest element (the first one on ties).
    public func argmax() -> Int {
        precondition(elementCount > 0, "argmax: empty tensor of shape \(shape)")
        return withUnsafeBufferPointer { largestIndex($0.baseAddress!, $0.count) }
    }

    // MARK: Softmax

    /// e^x / Σ e^x along `axis`, computed as e^(x − max) so no exponent overflows.
    public func softmax(axis: Int) -> Tensor {
        let result = alongLastAxis(axis, op: "softmax") { row, output, length in
            output.update(from: row, count: length)
            spm_softmax_rows(output, 1, length, length, 1, -1)
        }
        let y = result.detached()
        // dx = y ⊙ (g − Σ g ⊙ y)
        return result.recorded(from: [self]) { gradient in
            [y * (gradient - (gradient * y).sum(axis: axis, keepDims: true))]
        }
    }

    /// x − log Σ e^x along `axis`, as x − max − log Σ e^(x − max).
    public func logSoftmax(axis: Int) -> Tensor {
        let result = alongLastAxis(axis, op: "logSoftmax") { row, output, length in
            let largest = largestValue(row, count: length)
            let shift = largest + Float(Foundation.log(spm_sum_exp(row, length, largest)))
            transformVectors(row, output, count: length) { $0 - shift }
        }
        let probabilities = result.detached().exp()
        // dx = g − softmax(x) Σ g
        return result.recorded(from: [self]) { gradient in
            [gradient - probabilities * gradient.sum(axis: axis, keepDims: true)]
        }
    }

    /// Applies a row transform along `axis`: moves the axis last, transforms dense rows, moves it back.
    @inline(__always)
    private func alongLastAxis(_ axis: Int, op: String,
                               _ transformRow: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let axis = normalizedAxis(axis, op: op)
        var order = Array(0..<rank)
        order.remove(at: axis)
        order.append(axis)
        let rows = permuted(order).contiguous()
        let result = Tensor(uninitializedShape: rows.shape)
        let rowLength = shape[axis]
        let rowCount = rowLength == 0 ? 0 : elementCount / rowLength
        let input = rows.elements, output = result.mutableElements
        withExtendedLifetime(rows.storage) {
            let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(rowLength, 1))
            Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { range in
                for row in range { transformRow(input + row * rowLength, output + row * rowLength, rowLength) }
            }
        }
        var inverse = Array(0..<rank)
        for (position, source) in order.enumerated() { inverse[source] = position }
        return axis == rank - 1 ? result : result.permuted(inverse).contiguous()
    }
}

/// Σ row[i] in Double, with four independent accumulators so the adds pipeline.
@inline(__always)
func sumOfRow(_ row: UnsafePointer<Float>, _ length: Int) -> Double {
    var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
    var i = 0
    while i + 4 <= length {
        s0 += Double(row[i]); s1 += Double(row[i + 1]); s2 += Double(row[i + 2]); s3 += Double(row[i + 3])
        i += 4
    }
    while i < length { s0 += Double(row[i]); i += 1 }
    return (s0 + s1) + (s2 + s3)
}

/// Index of the first largest value in a row; a NaN counts as larger than everything (PyTorch's rule).
@inline(__always)
private func largestIndex(_ row: UnsafePointer<Float>, _ length: Int) -> Int {
    var best = 0
    for i in 1..<Swift.max(length, 1) {
        if row[best].isNaN { return best }
        if row[i] > row[best] || row[i].isNaN { best = i }
    }
    return best
}
