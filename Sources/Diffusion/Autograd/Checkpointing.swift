extension Tensor {
    /// `body(inputs)`, with its intermediate tensors not kept for the backward pass but recomputed there
    /// (activation checkpointing): a UNet block's activations then live only while that block is differentiated,
    /// for about a third more compute.
    ///
    /// Contract: every tensor `body` uses that needs a gradient is either one of `inputs` or a trainable leaf
    /// (`requiringGradient()`, e.g. a membrane's factors captured in the block's layers). The forward pass records
    /// the block once to find those leaves, keeps only the result, and the backward pass runs `body` again on
    /// fresh leaves standing for the inputs.
    public static func checkpointed(_ inputs: [Tensor], _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
        let recorded = body(inputs)
        guard let root = recorded.gradientNode else { return recorded }
        // The parameters the block reached: leaves found before reaching an input (whose own history is the
        // outer computation's and stays out of the block's).
        let inputNodes = inputs.compactMap(\.gradientNode)
        let inputIDs = Set(inputNodes.map(ObjectIdentifier.init))
        var parameters: [GradientNode] = []
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack = [root]
        while let node = stack.popLast() {
            if node.backward == nil, !inputIDs.contains(ObjectIdentifier(node)) { parameters.append(node) }
            guard !inputIDs.contains(ObjectIdentifier(node)) else { continue }
            for case let input? in node.inputs where seen.insert(ObjectIdentifier(input)).inserted { stack.append(input) }
        }
        let reached = parameters
        let values = inputs.map { $0.detached() }
        let needs = inputs.map(\.requiresGradient)
        let replay = UncheckedBody(body)
        var result = recorded.detached()
        // The result's node points at the inputs and the parameters directly; `recorded`'s graph is released here.
        result.gradientNode = GradientNode(inputs: inputs.map(\.gradientNode) + reached, shape: result.shape) { gradient in
            let standIns = zip(values, needs).map { $0.1 ? $0.0.requiringGradient() : $0.0 }
            let again = replay.body(standIns)
            let inputGradients = zip(standIns, needs).filter(\.1).map(\.0.gradientNode!)
            var gradients = again.gradients(withRespectToNodes: inputGradients + reached, seed: gradient)[...]
            let forInputs: [Tensor?] = needs.map { $0 ? gradients.removeFirst() : nil }
            return forInputs + Array(gradients).map { Optional($0) }
        }
        return result
    }
}

/// The block to replay in the backward pass. Blocks are pure functions of their inputs and of immutable model
/// values, so calling one again from whichever thread runs the backward pass is safe.
private struct UncheckedBody: @unchecked Sendable {
    let body: ([Tensor]) -> Tensor
    init(_ body: @escaping ([Tensor]) -> Tensor) { self.body = body }
}
