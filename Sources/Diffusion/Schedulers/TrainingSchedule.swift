import Foundation

/// The training noise schedule: βₜ, ᾱₜ = ∏(1 − βₛ) and the Karras-style σₜ = √((1 − ᾱₜ)/ᾱₜ), in float32 as
/// diffusers keeps them (its tensors are float32; the arithmetic below follows its order of operations).
public struct TrainingSchedule: Sendable, Equatable {
    public let betas: [Float]
    public let alphasCumprod: [Float]
    /// σ for each training timestep, ascending with t.
    public let sigmas: [Float]

    public var count: Int { betas.count }

    public init(config: SchedulerConfig) throws {
        let n = config.numTrainTimesteps
        guard n >= 2 else {
            throw SchedulerError.unsupported(file: config.source, key: "num_train_timesteps", value: "\(n)")
        }
        if let trained = config.trainedBetas {
            guard trained.count == n else {
                throw SchedulerError.wrongType(file: config.source, key: "trained_betas",
                                               expected: "a list of num_train_timesteps (\(n)) numbers")
            }
            betas = trained.map { Float($0) }
        } else {
            switch config.betaSchedule {
            case .linear:
                betas = NumPy.linspace(config.betaStart, config.betaEnd, count: n).map { Float($0) }
            case .scaledLinear:
                // torch.linspace(√start, √end, n, dtype=float32) ** 2: the square is taken in float32.
                betas = NumPy.linspace(config.betaStart.squareRoot(), config.betaEnd.squareRoot(), count: n)
                    .map { Float($0) * Float($0) }
            case .squaredCosine:
                betas = Self.cosineBetas(count: n)
            }
        }
        // torch.cumprod on float32 CPU tensors accumulates in double.
        var product = 1.0
        alphasCumprod = betas.map { beta in
            product *= Double(1 - beta)
            return Float(product)
        }
        sigmas = alphasCumprod.map { Self.sigma(alphaCumprod: $0) }
    }

    /// √((1 − ᾱ)/ᾱ) in float32 operations, as `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5`.
    static func sigma(alphaCumprod: Float) -> Float {
        ((1 - alphaCumprod) / alphaCumprod).squareRoot()
    }

    /// `betas_for_alpha_bar` (Glide's cosine schedule), computed in double then stored as float32.
    private static func cosineBetas(count n: Int) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = Foundation.cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<n).map { i in
            let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
        }
    }
}

/// The few NumPy routines diffusers builds its timestep tables with, reproduced with NumPy's arithmetic.
enum NumPy {
    /// `np.linspace(start, stop, count)`: start + i·step, with the last value set to `stop` exactly.
    static func linspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// `np.arange(start, stop, step)` for floats: length ⌈(stop − start)/step⌉, and (as NumPy's fill does)
    /// every value is start + i·δ with δ = (start + step) − start.
    static func arange(_ start: Double, _ stop: Double, step: Double) -> [Double] {
        let length = max(0, Int(((stop - start) / step).rounded(.up)))
        guard length > 0 else { return [] }
        let delta = (start + step) - start
        return (0..<length).map { $0 == 0 ? start : start + Double($0) * delta }
    }

    /// `np.round`: halves go to the even neighbour.
    static func round(_ value: Double) -> Double {
        value.rounded(.toNearestOrEven)
    }

    /// `np.interp(x, arange(len(fp)), fp)`.
    static func interpolate(_ x: Double, _ fp: [Float]) -> Double {
        if x <= 0 { return Double(fp[0]) }
        let last = fp.count - 1
        if x >= Double(last) { return Double(fp[last]) }
        let j = Int(x.rounded(.down))
        if x == Double(j) { return Double(fp[j]) }
        let slope = (Double(fp[j + 1]) - Double(fp[j])) / 1.0
        return slope * (x - Double(j)) + Double(fp[j])
    }

    /// diffusers' `_sigma_to_t`: the fractional training timestep whose log σ matches, by linear interpolation
    /// between the neighbouring entries of `logSigmas` (ascending σ, float32 logs).
    static func sigmaToTimestep(_ sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = Foundation.log(max(sigma, 1e-10))
        // low_idx = the last index whose log σ ≤ log_sigma (0 when none), clipped to count − 2.
        var low = 0
        for (index, value) in logSigmas.enumerated() where logSigma - Double(value) >= 0 { low = index }
        low = min(low, logSigmas.count - 2)
        let lowValue = Double(logSigmas[low]), highValue = Double(logSigmas[low + 1])
        let w = min(max((lowValue - logSigma) / (lowValue - highValue), 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }

    /// Karras et al. (2022) ρ = 7 spacing between σ_max and σ_min (diffusers' `_convert_to_karras`).
    static func karrasSigmas(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInvRho = Foundation.pow(sigmaMin, 1 / rho), maxInvRho = Foundation.pow(sigmaMax, 1 / rho)
        return linspace(0, 1, count: count).map { ramp in
            Foundation.pow(maxInvRho + ramp * (minInvRho - maxInvRho), rho)
        }
    }
}
