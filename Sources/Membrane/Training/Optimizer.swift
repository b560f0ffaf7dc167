import Foundation

/// The optimizers of `train.optimizer`, with PyTorch's update rules (torch.optim.AdamW, Adam, SGD without
/// momentum) so a run's numbers can be checked against PyTorch. Parameters are flat Float arrays; the state is
/// a value that checkpoints store exactly.
public struct Optimizer: Sendable, Equatable {
    public let kind: OptimizerChoice
    public let weightDecay: Float
    public let betas: (Float, Float) = (0.9, 0.999)
    public let epsilon: Float = 1e-8

    /// Updates taken so far (Adam's bias correction counts them).
    public var step = 0
    /// Adam's running first and second moments, one array per parameter (empty for SGD).
    public var firstMoments: [[Float]]
    public var secondMoments: [[Float]]

    public init(kind: OptimizerChoice, weightDecay: Float, parameters: [[Float]]) {
        self.kind = kind
        self.weightDecay = weightDecay
        let usesMoments = kind != .sgd
        firstMoments = usesMoments ? parameters.map { [Float](repeating: 0, count: $0.count) } : []
        secondMoments = firstMoments
    }

    public static func == (lhs: Optimizer, rhs: Optimizer) -> Bool {
        lhs.kind == rhs.kind && lhs.weightDecay == rhs.weightDecay && lhs.step == rhs.step
            && lhs.firstMoments == rhs.firstMoments && lhs.secondMoments == rhs.secondMoments
    }

    /// One update of `parameters` along `gradients` at `learningRate`.
    public mutating func update(_ parameters: inout [[Float]], gradients: [[Float]], learningRate: Float) {
        precondition(parameters.count == gradients.count, "Optimizer: \(gradients.count) gradients for \(parameters.count) parameters")
        step += 1
        switch kind {
        case .sgd:
            for index in parameters.indices {
                for i in parameters[index].indices {
                    let gradient = gradients[index][i] + weightDecay * parameters[index][i]
                    parameters[index][i] -= learningRate * gradient
                }
            }
        case .adam, .adamw:
            let decoupled = kind == .adamw
            let correction1 = 1 - Float(Foundation.pow(Double(betas.0), Double(step)))
            let correction2 = 1 - Float(Foundation.pow(Double(betas.1), Double(step)))
            let stepSize = learningRate / correction1
            let correction2Root = correction2.squareRoot()
            for index in parameters.indices {
                for i in parameters[index].indices {
                    var gradient = gradients[index][i]
                    if decoupled {
                        parameters[index][i] *= 1 - learningRate * weightDecay  // AdamW: decay the weight itself
                    } else {
                        gradient += weightDecay * parameters[index][i]          // Adam: L2 through the gradient
                    }
                    let m = betas.0 * firstMoments[index][i] + (1 - betas.0) * gradient
                    let v = betas.1 * secondMoments[index][i] + (1 - betas.1) * gradient * gradient
                    firstMoments[index][i] = m
                    secondMoments[index][i] = v
                    parameters[index][i] -= stepSize * m / (v.squareRoot() / correction2Root + epsilon)
                }
            }
        }
    }
}

/// Scales `gradients` so their global L2 norm is at most `maximum` (torch.nn.utils.clip_grad_norm_); returns
/// the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout [[Float]], maximum: Float) -> Float {
    let norm = Float(gradients.reduce(0.0) { total, gradient in
        gradient.reduce(total) { $0 + Double($1) * Double($1) }
    }.squareRoot())
    let factor = maximum / (norm + 1e-6)
    if factor < 1 {
        for index in gradients.indices { gradients[index] = gradients[index].map { $0 * factor } }
    }
    return norm
}

/// The learning rate at each step, as diffusers' `get_scheduler` schedules it (a LambdaLR: the first update
/// uses the factor of step 0): linear warm-up, then constant, a half cosine to zero, or cosine with hard
/// restarts (`restarts + 1` cycles).
public struct LearningRateSchedule: Sendable, Equatable {
    public let base: Float
    public let kind: LRScheduleChoice
    public let warmupSteps: Int
    public let totalSteps: Int
    public let restarts: Int

    public init(base: Float, kind: LRScheduleChoice, warmupSteps: Int, totalSteps: Int, restarts: Int) {
        self.base = base
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.restarts = restarts
    }

    /// The rate for update number `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step) / Float(max(1, warmupSteps)) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant:
            return base
        case .cosine:
            return base * Float(max(0, 0.5 * (1 + Foundation.cos(Double.pi * progress))))
        case .cosineWithRestarts:
            guard progress < 1 else { return 0 }
            let cycles = Double(restarts + 1)
            let phase = (cycles * progress).truncatingRemainder(dividingBy: 1)
            return base * Float(max(0, 0.5 * (1 + Foundation.cos(Double.pi * phase))))
        }
    }
}
