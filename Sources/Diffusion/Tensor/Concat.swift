extension Tensor {
    /// The tensors joined along `axis`; all other axes must agree (PyTorch's `cat`).
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let axis = first.normalizedAxis(axis, op: "concat")
        for tensor in tensors {
            let matches = tensor.rank == first.rank
                && tensor.shape.indices.allSatisfy { $0 == axis || tensor.shape[$0] == first.shape[$0] }
            precondition(matches, "concat: shapes \(first.shape) and \(tensor.shape) differ off axis \(axis)")
        }
        var outputShape = first.shape
        outputShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let result = Tensor(uninitializedShape: outputShape)
        var start = 0
        for tensor in tensors {
            let destination = result.narrowed(axis: axis, start: start, length: tensor.shape[axis])
            copyElements(of: tensor, to: destination.mutableElements, strides: destination.strides)
            start += tensor.shape[axis]
        }
        let lengths = tensors.map { $0.shape[axis] }
        return result.recorded(from: tensors) { gradient in
            var start = 0
            return lengths.map { length in
                defer { start += length }
                return gradient.narrowed(axis: axis, start: start, length: length)
            }
        }
    }
}
