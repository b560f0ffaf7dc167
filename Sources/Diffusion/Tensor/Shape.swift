// Shape arithmetic shared by every op: element counts, row-major strides, axis normalisation, broadcasting.

extension [Int] {
    /// Product of the sizes (1 for the empty shape of a scalar).
    var elementCount: Int { reduce(1, *) }

    /// Row-major strides for a dense tensor of this shape.
    var contiguousStrides: [Int] {
        var strides = [Int](repeating: 1, count: count)
        var step = 1
        for axis in indices.reversed() {
            strides[axis] = step
            step *= Swift.max(self[axis], 1)
        }
        return strides
    }
}

extension Tensor {
    /// `axis` as a non-negative index; negative values count from the end, as in PyTorch.
    func normalizedAxis(_ axis: Int, rank: Int? = nil, op: String) -> Int {
        let rank = rank ?? self.rank
        let normalized = axis < 0 ? axis + rank : axis
        precondition((0..<rank).contains(normalized), "\(op): axis \(axis) out of range for shape \(shape)")
        return normalized
    }

    /// Sorted, distinct, non-negative axes.
    func normalizedAxes(_ axes: [Int], op: String) -> [Int] {
        let normalized = axes.map { normalizedAxis($0, op: op) }
        precondition(Set(normalized).count == normalized.count, "\(op): repeated axis in \(axes) for shape \(shape)")
        return normalized.sorted()
    }

    /// The shape two operands broadcast to under numpy/PyTorch rules: align trailing axes; sizes must match or
    /// one of them be 1.
    static func broadcastShape(_ first: [Int], _ second: [Int], op: String) -> [Int] {
        let rank = Swift.max(first.count, second.count)
        let paddedFirst = [Int](repeating: 1, count: rank - first.count) + first
        let paddedSecond = [Int](repeating: 1, count: rank - second.count) + second
        return (0..<rank).map { axis in
            let (a, b) = (paddedFirst[axis], paddedSecond[axis])
            precondition(a == b || a == 1 || b == 1, "\(op): shapes \(first) and \(second) do not broadcast")
            return a == 1 ? b : a
        }
    }

    /// This tensor's strides when viewed with the broadcast `target` shape: stride 0 along broadcast axes.
    func broadcastStrides(to target: [Int], op: String) -> [Int] {
        precondition(target.count >= rank, "\(op): shape \(shape) cannot broadcast to \(target)")
        let lead = target.count - rank
        return target.indices.map { axis in
            guard axis >= lead else { return 0 }
            let size = shape[axis - lead]
            precondition(size == target[axis] || size == 1, "\(op): shape \(shape) cannot broadcast to \(target)")
            return size == target[axis] ? strides[axis - lead] : 0
        }
    }
}
