// Views: new shapes and strides over the same storage, no element copied (except `contiguous()` and
// `reshape` of a tensor whose layout cannot be re-read in the new shape).

extension Tensor {
    /// The same elements in row-major order under a new shape; one entry may be -1 (inferred). A view when the
    /// tensor is contiguous, otherwise a contiguous copy, as PyTorch's `reshape`.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let inferred = newShape.filter { $0 == -1 }.count
        precondition(inferred <= 1 && newShape.allSatisfy { $0 >= -1 },
                     "reshape: invalid target shape \(newShape) for shape \(shape)")
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            precondition(known > 0 && elementCount % known == 0,
                         "reshape: cannot infer -1 in \(newShape) for shape \(shape)")
            resolved[unknown] = elementCount / known
        }
        precondition(resolved.elementCount == elementCount,
                     "reshape: shape \(shape) (\(elementCount) elements) cannot become \(newShape)")
        let dense = contiguous()
        let originalShape = shape
        return Tensor(storage: dense.storage, shape: resolved, strides: resolved.contiguousStrides, offset: dense.offset)
            .recorded(from: [self]) { [$0.reshaped(originalShape)] }
    }

    /// All axes flattened into one.
    public func flattened() -> Tensor { reshaped([elementCount]) }

    /// Axes reordered: axis `i` of the result is axis `order[i]` of this tensor.
    public func permuted(_ order: [Int]) -> Tensor {
        let axes = order.map { normalizedAxis($0, op: "permute") }
        precondition(axes.count == rank && Set(axes).count == rank,
                     "permute: order \(order) is not a permutation of the axes of shape \(shape)")
        var inverseOrder = axes
        for (position, axis) in axes.enumerated() { inverseOrder[axis] = position }
        let inverse = inverseOrder
        return Tensor(storage: storage, shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }, offset: offset)
            .recorded(from: [self]) { [$0.permuted(inverse)] }
    }

    /// Two axes swapped (by default the last two, the matrix transpose).
    public func transposed(_ first: Int = -2, _ second: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizedAxis(first, op: "transpose"), normalizedAxis(second, op: "transpose"))
        return permuted(order)
    }

    /// `length` entries along `axis` starting at `start`.
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        let axis = normalizedAxis(axis, op: "narrow")
        precondition(start >= 0 && length >= 0 && start + length <= shape[axis],
                     "narrow: range \(start)..<\(start + length) outside axis \(axis) of shape \(shape)")
        var newShape = shape
        newShape[axis] = length
        let originalShape = shape
        return Tensor(storage: storage, shape: newShape, strides: strides,
                      offset: length == 0 ? offset : offset + start * strides[axis])
            .recorded(from: [self]) { [$0.placed(in: originalShape, axis: axis, start: start, step: 1)] }
    }

    /// Every `step`-th entry of `range` along `axis` (PyTorch's `x[..., a:b:step]`).
    public func sliced(axis: Int, _ range: Range<Int>, step: Int = 1) -> Tensor {
        precondition(step > 0, "slice: step \(step) must be positive")
        let axis = normalizedAxis(axis, op: "slice")
        let narrowed = detached().narrowed(axis: axis, start: range.lowerBound, length: range.count)
        var newShape = narrowed.shape
        var newStrides = narrowed.strides
        newShape[axis] = (range.count + step - 1) / step
        newStrides[axis] *= step
        let originalShape = shape
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: narrowed.offset)
            .recorded(from: [self]) { [$0.placed(in: originalShape, axis: axis, start: range.lowerBound, step: step)] }
    }

    /// A view repeating size-1 axes (and new leading axes) to `target` with stride 0, as PyTorch's `expand`.
    public func expanded(to target: [Int]) -> Tensor {
        let originalShape = shape
        return Tensor(storage: storage, shape: target, strides: broadcastStrides(to: target, op: "expand"), offset: offset)
            .recorded(from: [self]) { [$0.summed(toShape: originalShape)] }
    }

    /// Without the size-1 axis `axis`.
    public func squeezed(axis: Int) -> Tensor {
        let axis = normalizedAxis(axis, op: "squeeze")
        precondition(shape[axis] == 1, "squeeze: axis \(axis) of shape \(shape) has size \(shape[axis]), not 1")
        var newShape = shape, newStrides = strides
        newShape.remove(at: axis)
        newStrides.remove(at: axis)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
            .recorded(from: [self]) { [$0.unsqueezed(axis: axis)] }
    }

    /// With a new size-1 axis inserted at `axis` (which may equal the rank, or be negative: -1 appends).
    public func unsqueezed(axis: Int) -> Tensor {
        let axis = normalizedAxis(axis, rank: rank + 1, op: "unsqueeze")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: axis)
        newStrides.insert(axis < rank ? strides[axis] * shape[axis] : 1, at: axis)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
            .recorded(from: [self]) { [$0.squeezed(axis: axis)] }
    }

    /// This tensor when already contiguous, otherwise a dense row-major copy.
    public func contiguous() -> Tensor {
        isContiguous ? self : copied().recorded(from: [self]) { [$0] }
    }

    /// A dense row-major copy with storage of its own.
    func copied() -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        copyElements(of: self, to: result.mutableElements, strides: result.strides)
        return result
    }
}

extension Tensor {
    /// The backward of a narrow or slice: zeros of `shape` with this tensor written at every `step`-th entry of
    /// `axis` from `start`.
    func placed(in shape: [Int], axis: Int, start: Int, step: Int) -> Tensor {
        let result = Tensor.zeros(shape)
        var strides = result.strides
        strides[axis] *= step
        let offset = start * result.strides[axis]
        copyElements(of: self, to: result.mutableElements + offset, strides: strides)
        return result
    }
}
