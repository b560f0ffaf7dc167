import Diffusion

/// Adam on a conditioning (the text embedding the UNet's cross-attention reads) to minimise a loss: how attacks
/// look for a conditioning that brings an erased concept back — the white-box attack of evaluation, and the inner
/// loop of robust training. Deterministic: any randomness is the loss's own.
public struct ConditioningSearch: Sendable {
    public var iterations: Int
    public var learningRate: Float

    public init(iterations: Int, learningRate: Float) {
        self.iterations = iterations
        self.learningRate = learningRate
    }

    /// The conditioning after `iterations` steps from `start`; `loss` gets a copy that requires a gradient and
    /// returns a one-element tensor computed from it.
    public func run(from start: Tensor, loss: (Tensor) -> Tensor) -> Tensor {
        var values = [start.toArray()]
        var optimizer = Optimizer(kind: .adam, weightDecay: 0, parameters: values)
        for _ in 0..<iterations {
            let context = Tensor(values[0], shape: start.shape).requiringGradient()
            let gradient = loss(context).gradients(withRespectTo: [context]).map { $0.toArray() }
            optimizer.update(&values, gradients: gradient, learningRate: learningRate)
        }
        return Tensor(values[0], shape: start.shape)
    }
}
