/// Walks the elements of one shape seen through up to three stride patterns (an output and its operands),
/// one row at a time. Axes of size 1 are dropped and neighbouring axes that are dense for every operand are
/// merged, so most views reduce to few, long rows whose inner loop is a plain strided (often unit-stride) loop.
struct StridedRows {
    /// Elements per row (the merged innermost axis).
    let rowLength: Int
    /// Number of rows (product of the outer merged axes).
    let rowCount: Int
    /// Step between neighbouring elements of a row, per operand.
    let innerStrides: (Int, Int, Int)
    private let outerShape: [Int]
    private let outerStrides: [[Int]]

    /// `strides` holds one stride array per operand (one to three), each with `shape.count` entries.
    init(shape: [Int], strides: [[Int]]) {
        precondition((1...3).contains(strides.count) && strides.allSatisfy { $0.count == shape.count })
        var mergedShape: [Int] = []
        var mergedStrides: [[Int]] = strides.map { _ in [] }
        for axis in shape.indices where shape[axis] != 1 {
            let canMerge = !mergedShape.isEmpty && strides.indices.allSatisfy { operand in
                mergedStrides[operand].last! == strides[operand][axis] * shape[axis]
            }
            if canMerge {
                mergedShape[mergedShape.count - 1] *= shape[axis]
                for operand in strides.indices { mergedStrides[operand][mergedStrides[operand].count - 1] = strides[operand][axis] }
            } else {
                mergedShape.append(shape[axis])
                for operand in strides.indices { mergedStrides[operand].append(strides[operand][axis]) }
            }
        }
        if mergedShape.isEmpty {  // a single element
            mergedShape = [1]
            mergedStrides = strides.map { _ in [0] }
        }
        while mergedStrides.count < 3 { mergedStrides.append([Int](repeating: 0, count: mergedShape.count)) }
        rowLength = mergedShape.last!
        rowCount = mergedShape.dropLast().reduce(1, *) * (rowLength == 0 ? 0 : 1)
        innerStrides = (mergedStrides[0].last!, mergedStrides[1].last!, mergedStrides[2].last!)
        outerShape = Array(mergedShape.dropLast())
        outerStrides = mergedStrides.map { Array($0.dropLast()) }
    }

    /// Calls `body` with each operand's storage offset of the first element of every row in `rows`.
    func forEachRow(in rows: Range<Int>, _ body: (Int, Int, Int) -> Void) {
        guard !rows.isEmpty else { return }
        let rank = outerShape.count
        var index = [Int](repeating: 0, count: rank)
        var remainder = rows.lowerBound
        var offsets = (0, 0, 0)
        for axis in (0..<rank).reversed() {
            index[axis] = remainder % outerShape[axis]
            remainder /= outerShape[axis]
            offsets.0 += index[axis] * outerStrides[0][axis]
            offsets.1 += index[axis] * outerStrides[1][axis]
            offsets.2 += index[axis] * outerStrides[2][axis]
        }
        for _ in rows {
            body(offsets.0, offsets.1, offsets.2)
            // Advance the odometer: bump the last outer axis, carrying into earlier ones.
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                offsets.0 += outerStrides[0][axis]
                offsets.1 += outerStrides[1][axis]
                offsets.2 += outerStrides[2][axis]
                if index[axis] < outerShape[axis] { break }
                offsets.0 -= outerStrides[0][axis] * outerShape[axis]
                offsets.1 -= outerStrides[1][axis] * outerShape[axis]
                offsets.2 -= outerStrides[2][axis] * outerShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Runs `forEachRow` over all rows, in parallel chunks when there are enough elements.
    func forEachRowInParallel(_ body: (Int, Int, Int) -> Void) {
        let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(rowLength, 1))
        Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { rows in
            forEachRow(in: rows, body)
        }
    }
}

/// Copies the elements of `source` (any strides) into `destination` laid out with `destinationStrides` over the
/// same shape. The one strided copy behind `contiguous()`, `concat` and friends.
func copyElements(of source: Tensor, to destination: UnsafeMutablePointer<Float>, strides destinationStrides: [Int]) {
    let rows = StridedRows(shape: source.shape, strides: [destinationStrides, source.strides])
    let length = rows.rowLength
    let (destinationStep, sourceStep, _) = rows.innerStrides
    let sourceBase = source.elements
    withExtendedLifetime(source.storage) {
        rows.forEachRowInParallel { destinationOffset, sourceOffset, _ in
            let to = destination + destinationOffset
            let from = sourceBase + sourceOffset
            if destinationStep == 1 && sourceStep == 1 {
                to.update(from: from, count: length)
            } else {
                for i in 0..<length { to[i * destinationStep] = from[i * sourceStep] }
            }
        }
    }
}
