import Foundation

/// diffusers' `DDIMScheduler` (Song et al. 2020) as scalar coefficients.
public struct DDIMSchedule: NoiseSchedule {
    public let kind = SchedulerKind.ddim
    public let training: TrainingSchedule
    public let timesteps: [Double]
    public let initNoiseSigma = 1.0
    /// ᾱ at each step's timestep, and at the timestep the step lands on (`finalAlphaCumprod` past the end).
    public let alphaProducts: [Double]
    public let previousAlphaProducts: [Double]
    public let eta: Double
    private let predictionType: PredictionType
    private let clamp: ClosedRange<Double>?

    public init(config: SchedulerConfig, steps: Int, eta: Double = 0) throws {
        try Spacing.check(steps, config)
        let training = try TrainingSchedule(config: config)
        self.training = training
        let spacing = config.timestepSpacing ?? .leading
        // DDIM's timesteps are integers: linspace values are rounded (half to even, as np.round).
        let integerTimesteps = Spacing.timesteps(spacing, steps: steps, config: config).map { Int(NumPy.round($0)) }
        timesteps = integerTimesteps.map(Double.init)
        let finalAlphaCumprod = config.setAlphaToOne ? 1.0 : Double(training.alphasCumprod[0])
        // diffusers steps back by num_train_timesteps // steps whatever the spacing.
        let stride = config.numTrainTimesteps / steps
        alphaProducts = integerTimesteps.map { Double(training.alphasCumprod[$0]) }
        previousAlphaProducts = integerTimesteps.map { t in
            t - stride >= 0 ? Double(training.alphasCumprod[t - stride]) : finalAlphaCumprod
        }
        self.eta = eta
        predictionType = config.predictionType
        clamp = config.clipSample ? -config.clipSampleRange...config.clipSampleRange : nil
    }

    public func modelInputScale(step: Int) -> Double { 1 }

    public func conversion(step: Int) -> ModelOutputConversion {
        let alpha = alphaProducts[step].squareRoot(), sigma = (1 - alphaProducts[step]).squareRoot()
        var conversion: ModelOutputConversion
        switch predictionType {
        case .epsilon:
            conversion = .init(denoisedFromSample: 1 / alpha, denoisedFromOutput: -sigma / alpha,
                               epsilonFromSample: 0, epsilonFromOutput: 1)
        case .sample:
            conversion = .init(denoisedFromSample: 0, denoisedFromOutput: 1,
                               epsilonFromSample: 1 / sigma, epsilonFromOutput: -alpha / sigma)
        case .vPrediction:
            conversion = .init(denoisedFromSample: alpha, denoisedFromOutput: -sigma,
                               epsilonFromSample: sigma, epsilonFromOutput: alpha)
        }
        conversion.denoisedClamp = clamp
        return conversion
    }

    /// x′ = √ᾱ′·x̂₀ + √(1 − ᾱ′ − σ²)·ε̂ + σ·z with σ = η·√((1 − ᾱ′)/(1 − ᾱ) · (1 − ᾱ/ᾱ′)).
    public func update(step: Int) -> StepUpdate {
        let current = alphaProducts[step], previous = previousAlphaProducts[step]
        let variance = (1 - previous) / (1 - current) * (1 - current / previous)
        let deviation = eta * variance.squareRoot()
        return StepUpdate(sample: 0, denoised: previous.squareRoot(),
                          epsilon: (1 - previous - deviation * deviation).squareRoot(),
                          noise: eta > 0 ? deviation : 0)
    }
}
