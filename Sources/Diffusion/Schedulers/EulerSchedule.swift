import Foundation

/// diffusers' `EulerDiscreteScheduler` (Karras et al. 2022, Algorithm 2 without churn) and
/// `EulerAncestralDiscreteScheduler` as scalar coefficients. Latents live in σ-scaled space: x = x₀ + σ·ε.
public struct EulerSchedule: NoiseSchedule {
    public let kind: SchedulerKind
    public let training: TrainingSchedule
    public let timesteps: [Double]
    /// σ at each step, then the final σ (one more entry than `timesteps`), in float32 as diffusers keeps them.
    public let sigmas: [Float]
    public let initNoiseSigma: Double
    private let predictionType: PredictionType

    public init(config: SchedulerConfig, steps: Int, ancestral: Bool) throws {
        try Spacing.check(steps, config)
        kind = ancestral ? .eulerAncestral : .euler
        let training = try TrainingSchedule(config: config)
        self.training = training
        predictionType = config.predictionType
        let spacing = config.timestepSpacing ?? .linspace
        // Euler's timesteps are float32 (np.linspace(..., dtype=float32) is not rounded).
        var stepTimesteps = Spacing.timesteps(spacing, steps: steps, config: config).map { Double(Float($0)) }
        var stepSigmas = stepTimesteps.map { NumPy.interpolate($0, training.sigmas) }
        // Euler ancestral has no Karras option or final-σ choice in diffusers.
        if !ancestral && config.useKarrasSigmas {
            let logSigmas = training.sigmas.map { Foundation.log($0) }
            stepSigmas = NumPy.karrasSigmas(sigmaMin: config.sigmaMin ?? stepSigmas[stepSigmas.count - 1],
                                            sigmaMax: config.sigmaMax ?? stepSigmas[0], count: steps)
            stepTimesteps = stepSigmas.map { Double(Float(NumPy.sigmaToTimestep($0, logSigmas: logSigmas))) }
        }
        let finalSigma: Float = !ancestral && config.finalSigmasType == .sigmaMin ? training.sigmas[0] : 0
        timesteps = stepTimesteps
        sigmas = stepSigmas.map { Float($0) } + [finalSigma]
        // init_noise_sigma: max σ for linspace/trailing spacing, else √(max σ² + 1) (float32 arithmetic).
        let maximum = sigmas.max() ?? 0
        initNoiseSigma = spacing == .leading ? Double((maximum * maximum + 1).squareRoot()) : Double(maximum)
    }

    /// The model sees x / √(σ² + 1).
    public func modelInputScale(step: Int) -> Double {
        let sigma = Double(sigmas[step])
        return 1 / (sigma * sigma + 1).squareRoot()
    }

    public func conversion(step: Int) -> ModelOutputConversion {
        let sigma = Double(sigmas[step])
        let x0: (sample: Double, output: Double)
        switch predictionType {
        case .epsilon: x0 = (1, -sigma)
        case .sample: x0 = (0, 1)
        case .vPrediction: x0 = (1 / (sigma * sigma + 1), -sigma / (sigma * sigma + 1).squareRoot())
        }
        // ε̂ = (x − x̂₀)/σ: the ODE derivative.
        return ModelOutputConversion(denoisedFromSample: x0.sample, denoisedFromOutput: x0.output,
                                     epsilonFromSample: (1 - x0.sample) / sigma, epsilonFromOutput: -x0.output / sigma)
    }

    /// Euler: x′ = x + ε̂·(σ′ − σ). Ancestral: step to σ_down, then add σ_up of fresh noise, where
    /// σ_up = √(σ′²(σ² − σ′²)/σ²) and σ_down = √(σ′² − σ_up²).
    public func update(step: Int) -> StepUpdate {
        let sigma = Double(sigmas[step]), next = Double(sigmas[step + 1])
        guard kind == .eulerAncestral else {
            return StepUpdate(sample: 1, denoised: 0, epsilon: next - sigma)
        }
        let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
        let down = (next * next - up * up).squareRoot()
        return StepUpdate(sample: 1, denoised: 0, epsilon: down - sigma, noise: up)
    }
}
