import Foundation

public enum SchedulerKind: String, Sendable, CaseIterable {
    case ddim
    case euler
    case eulerAncestral = "euler-a"
    case dpmSolverMultistep = "dpmpp-2m"
}

/// How one step turns the model's output into the denoised estimate x̂₀ and the noise estimate ε̂, both
/// linear in the current latents x and the model output m:
///     x̂₀ = denoisedFromSample·x + denoisedFromOutput·m        (then clamped to `denoisedClamp` if set)
///     ε̂  = epsilonFromSample·x  + epsilonFromOutput·m
public struct ModelOutputConversion: Sendable, Equatable {
    public var denoisedFromSample: Double
    public var denoisedFromOutput: Double
    public var epsilonFromSample: Double
    public var epsilonFromOutput: Double
    public var denoisedClamp: ClosedRange<Double>?
}

/// The latents after one step, linear in what the step knows:
///     x′ = sample·x + denoised·x̂₀ + epsilon·ε̂ + previousDenoised·x̂₀(previous step) + noise·z,  z ~ N(0, 1)
/// Coefficients that are zero need not be computed over the tensor.
public struct StepUpdate: Sendable, Equatable {
    public var sample: Double
    public var denoised: Double
    public var epsilon: Double = 0
    public var previousDenoised: Double = 0
    public var noise: Double = 0
}

/// A sampler's complete plan for one run of `steps` steps, as pure scalars: the tensor-level loop is
///
///     x = initNoiseSigma · noise
///     for i in timesteps.indices:
///         m  = model(x · modelInputScale(i), timesteps[i])
///         x̂₀, ε̂ = conversion(i) applied to (x, m)
///         x  = update(i) applied to (x, x̂₀, ε̂, x̂₀ of step i − 1, fresh noise when update(i).noise ≠ 0)
///
/// and nothing else: classifier-free guidance happens on m before the conversion.
public protocol NoiseSchedule: Sendable {
    var kind: SchedulerKind { get }
    /// The timestep given to the model at each step (fractional for Euler with Karras sigmas).
    var timesteps: [Double] { get }
    /// Standard deviation of the initial latents.
    var initNoiseSigma: Double { get }
    func modelInputScale(step: Int) -> Double
    func conversion(step: Int) -> ModelOutputConversion
    func update(step: Int) -> StepUpdate
}

extension NoiseSchedule {
    public var stepCount: Int { timesteps.count }
}

/// Builds the schedule for `kind` from a model's `scheduler_config.json` values, as diffusers'
/// `<Scheduler>.from_config(config)` followed by `set_timesteps(steps)`.
public func makeNoiseSchedule(_ kind: SchedulerKind, config: SchedulerConfig, steps: Int, eta: Double = 0) throws
    -> any NoiseSchedule {
    try config.validate(for: kind)
    switch kind {
    case .ddim: return try DDIMSchedule(config: config, steps: steps, eta: eta)
    case .euler: return try EulerSchedule(config: config, steps: steps, ancestral: false)
    case .eulerAncestral: return try EulerSchedule(config: config, steps: steps, ancestral: true)
    case .dpmSolverMultistep: return try DPMSolverMultistepSchedule(config: config, steps: steps)
    }
}

/// The inference timesteps of the ᾱ-indexed schedulers (DDIM and DPM-Solver) and the Euler family, which
/// share diffusers' spacing code except for DPM-Solver's (below).
enum Spacing {
    static func check(_ steps: Int, _ config: SchedulerConfig) throws {
        guard steps >= 1 && steps <= config.numTrainTimesteps else {
            throw SchedulerError.invalidStepCount(steps, trainSteps: config.numTrainTimesteps)
        }
    }

    /// DDIM, Euler and Euler ancestral `set_timesteps`, before any conversion to int or float32.
    static func timesteps(_ spacing: TimestepSpacing, steps: Int, config: SchedulerConfig) -> [Double] {
        let n = config.numTrainTimesteps
        switch spacing {
        case .linspace:
            return NumPy.linspace(0, Double(n - 1), count: steps).reversed()
        case .leading:
            let ratio = n / steps
            return (0..<steps).reversed().map { Double($0 * ratio + config.stepsOffset) }
        case .trailing:
            let ratio = Double(n) / Double(steps)
            return NumPy.arange(Double(n), 0, step: -ratio).map { NumPy.round($0) - 1 }
        }
    }
}
