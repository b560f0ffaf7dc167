extension Tensor {
    /// Gradients of this tensor with respect to `inputs` (trainable leaves, or any tensor of the computation that
    /// needs a gradient), by one reverse sweep over the recorded computation.
    ///
    /// `seed` is the gradient of the quantity being differentiated with respect to this tensor: nil for a
    /// one-element loss (seed 1); for any other tensor the result is the gradient of Σ seed ⊙ self. An input this
    /// tensor does not depend on gets zeros.
    public func gradients(withRespectTo inputs: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        gradients(withRespectToNodes: inputs.map { input -> GradientNode in
            guard let node = input.gradientNode else {
                preconditionFailure("gradients: an input of shape \(input.shape) does not require a gradient")
            }
            return node
        }, seed: seed)
    }

    /// `gradients(withRespectTo:seed:)` for the nodes of the wanted tensors.
    func gradients(withRespectToNodes wanted: [GradientNode], seed: Tensor?) -> [Tensor] {
        guard let root = gradientNode else {
            preconditionFailure("gradients: this tensor (shape \(shape)) was not computed from any tensor that requires a gradient")
        }
        if let seed { precondition(seed.shape == shape, "gradients: seed \(seed.shape) does not match \(shape)") }
        else { precondition(elementCount == 1, "gradients: a seed is needed for a tensor of shape \(shape)") }

        var found: [ObjectIdentifier: Tensor] = [:]
        let wantedIDs = Set(wanted.map(ObjectIdentifier.init))
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): (seed ?? Tensor.ones(shape)).detached()]
        for node in Self.reverseTopologicalOrder(from: root) {
            let id = ObjectIdentifier(node)
            // A node's gradient is complete once every consumer has run (they all come earlier in this order);
            // it is released as soon as it has been passed on.
            guard let gradient = pending.removeValue(forKey: id) else { continue }
            if wantedIDs.contains(id) { found[id] = gradient }
            guard let backward = node.backward else { continue }
            for (input, inputGradient) in zip(node.inputs, backward(gradient)) {
                guard let input, let inputGradient else { continue }
                precondition(inputGradient.shape == input.shape,
                             "gradients: an op returned a gradient of shape \(inputGradient.shape) for an operand of shape \(input.shape)")
                let inputID = ObjectIdentifier(input)
                if var accumulated = pending.removeValue(forKey: inputID) {
                    accumulated.accumulate(inputGradient)
                    pending[inputID] = accumulated
                } else {
                    pending[inputID] = inputGradient
                }
            }
        }
        return wanted.map { found[ObjectIdentifier($0)] ?? Tensor.zeros($0.shape) }
    }

    /// Every node `root` depends on, each after all the nodes that consume it (depth-first post-order,
    /// reversed; iterative, since a UNet's computation is thousands of ops deep).
    static func reverseTopologicalOrder(from root: GradientNode) -> [GradientNode] {
        var order: [GradientNode] = []
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack: [(node: GradientNode, nextInput: Int)] = [(root, 0)]
        while let (node, nextInput) = stack.last {
            if nextInput == node.inputs.count {
                order.append(node)
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].nextInput += 1
            if let input = node.inputs[nextInput], visited.insert(ObjectIdentifier(input)).inserted {
                stack.append((input, 0))
            }
        }
        return order.reversed()
    }

    /// self += other (same shape) for gradients that need no gradient themselves: written into this tensor's
    /// storage when nothing else sees it (a gradient one op has just made), else a new sum. Saves a buffer and
    /// a pass wherever a tensor feeds several ops (every residual stream).
    mutating func accumulate(_ other: Tensor) {
        precondition(shape == other.shape, "gradients: accumulating \(other.shape) onto \(shape)")
        let ownsCompactStorage = !requiresGradient && !other.requiresGradient && isKnownUniquelyReferenced(&storage)
            && isContiguous && offset == 0 && storage.count == elementCount
        guard ownsCompactStorage else { return self = self + other }
        let sum = mutableElements
        let rows = StridedRows(shape: shape, strides: [strides, other.strides])
        let length = rows.rowLength, step = rows.innerStrides.1, source = other.elements
        withExtendedLifetime(other.storage) {
            rows.forEachRowInParallel { sumOffset, sourceOffset, _ in
                let to = sum + sumOffset, from = source + sourceOffset
                if step == 1 {
                    for i in 0..<length { to[i] += from[i] }
                } else {
                    for i in 0..<length { to[i] += from[i * step] }
                }
            }
        }
    }

    /// This gradient of a broadcast result summed back to `target`, the shape of the operand that was broadcast
    /// (extra leading axes and axes of size 1 in `target` are summed).
    func summed(toShape target: [Int]) -> Tensor {
        guard shape != target else { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "summed(toShape:): \(shape) cannot come from broadcasting \(target)")
        let axes = (0..<rank).filter { $0 < lead || (target[$0 - lead] == 1 && shape[$0] != 1) }
        return (axes.isEmpty ? self : sum(axes: axes)).reshaped(target)
    }
}
