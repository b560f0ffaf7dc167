import Foundation

/// diffusers' `DPMSolverMultistepScheduler` with `algorithm_type="dpmsolver++"`, midpoint solver, order 1 or 2
/// (DPM++ 2M; Lu et al. 2022) as scalar coefficients. The model output is converted to x̂₀ and the update mixes
/// the current and the previous step's x̂₀.
public struct DPMSolverMultistepSchedule: NoiseSchedule {
    public let kind = SchedulerKind.dpmSolverMultistep
    public let training: TrainingSchedule
    public let timesteps: [Double]
    /// σ at each step, then the final σ, float32 as diffusers keeps them.
    public let sigmas: [Float]
    public let initNoiseSigma = 1.0
    private let predictionType: PredictionType
    private let solverOrder: Int
    private let lowerOrderFinal: Bool
    private let eulerAtFinal: Bool
    private let finalSigmaIsZero: Bool

    public init(config: SchedulerConfig, steps: Int) throws {
        try Spacing.check(steps, config)
        let training = try TrainingSchedule(config: config)
        self.training = training
        predictionType = config.predictionType
        solverOrder = config.solverOrder
        lowerOrderFinal = config.lowerOrderFinal
        eulerAtFinal = config.eulerAtFinal
        finalSigmaIsZero = config.finalSigmasType == .zero

        // lambda_min_clipped is −∞ by default, so the last usable timestep is num_train_timesteps.
        let last = config.numTrainTimesteps
        var stepTimesteps: [Double]
        switch config.timestepSpacing ?? .linspace {
        case .linspace:
            stepTimesteps = NumPy.linspace(0, Double(last - 1), count: steps + 1).map(NumPy.round).reversed().dropLast()
        case .leading:
            let ratio = last / (steps + 1)
            stepTimesteps = (1...steps).reversed().map { Double($0 * ratio + config.stepsOffset) }
        case .trailing:
            let ratio = Double(config.numTrainTimesteps) / Double(steps)
            stepTimesteps = NumPy.arange(Double(last), 0, step: -ratio).map { NumPy.round($0) - 1 }
        }
        var stepSigmas: [Double]
        if config.useKarrasSigmas {
            // Karras range from the whole training schedule (not the chosen steps, unlike Euler).
            let logSigmas = training.sigmas.map { Foundation.log($0) }
            stepSigmas = NumPy.karrasSigmas(sigmaMin: config.sigmaMin ?? Double(training.sigmas[0]),
                                            sigmaMax: config.sigmaMax ?? Double(training.sigmas[training.count - 1]),
                                            count: steps)
            stepTimesteps = stepSigmas.map { sigma in
                let t = NumPy.sigmaToTimestep(sigma, logSigmas: logSigmas)
                return config.betaSchedule == .squaredCosine ? t : NumPy.round(t)
            }
        } else {
            stepSigmas = stepTimesteps.map { NumPy.interpolate($0, training.sigmas) }
        }
        // The model sees int64 timesteps.
        timesteps = stepTimesteps.map { Double(Int64($0)) }
        let finalSigma: Float = finalSigmaIsZero ? 0 : training.sigmas[0]
        sigmas = stepSigmas.map { Float($0) } + [finalSigma]
    }

    public func modelInputScale(step: Int) -> Double { 1 }

    /// αₜ = 1/√(σ² + 1) and σₜ = σ·αₜ: the variance-preserving pair for a σ-space noise level.
    private func alphaSigma(_ index: Int) -> (alpha: Double, sigma: Double) {
        let sigma = Double(sigmas[index])
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    private func lambda(_ index: Int) -> Double {
        let (alpha, sigma) = alphaSigma(index)
        return Foundation.log(alpha) - Foundation.log(sigma)
    }

    public func conversion(step: Int) -> ModelOutputConversion {
        let (alpha, sigma) = alphaSigma(step)
        let x0: (sample: Double, output: Double)
        switch predictionType {
        case .epsilon: x0 = (1 / alpha, -sigma / alpha)
        case .sample: x0 = (0, 1)
        case .vPrediction: x0 = (alpha, -sigma)
        }
        return ModelOutputConversion(denoisedFromSample: x0.sample, denoisedFromOutput: x0.output,
                                     epsilonFromSample: (1 - alpha * x0.sample) / sigma,
                                     epsilonFromOutput: -alpha * x0.output / sigma)
    }

    /// Whether step `step` uses the first-order update (the first step, and the last one when diffusers
    /// lowers the order there).
    public func usesFirstOrder(step: Int) -> Bool {
        let isLast = step == timesteps.count - 1
        let lowerFinal = isLast && (eulerAtFinal || (lowerOrderFinal && timesteps.count < 15) || finalSigmaIsZero)
        return solverOrder == 1 || step == 0 || lowerFinal
    }

    /// First order: x′ = (σₜ/σₛ)·x − αₜ(e^{−h} − 1)·D₀. Second order (midpoint): the same plus
    /// −½αₜ(e^{−h} − 1)·D₁ with D₁ = (D₀ − D₋₁)/r₀, r₀ = h₋₁/h, h = λₜ − λₛ.
    public func update(step: Int) -> StepUpdate {
        let (alphaT, sigmaT) = alphaSigma(step + 1)
        let sigmaS = alphaSigma(step).sigma
        let h = lambda(step + 1) - lambda(step)
        let phi = alphaT * (Foundation.exp(-h) - 1)
        guard !usesFirstOrder(step: step) else {
            return StepUpdate(sample: sigmaT / sigmaS, denoised: -phi)
        }
        let r0 = (lambda(step) - lambda(step - 1)) / h
        return StepUpdate(sample: sigmaT / sigmaS, denoised: -phi - 0.5 * phi / r0, previousDenoised: 0.5 * phi / r0)
    }
}
