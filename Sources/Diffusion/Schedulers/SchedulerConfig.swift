import Foundation

/// Errors reading a `scheduler_config.json` or building a schedule. One line each, naming the file and key.
public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case wrongType(file: String, key: String, expected: String)
    case unsupported(file: String, key: String, value: String)
    case invalidStepCount(Int, trainSteps: Int)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): \(reason)"
        case .wrongType(let file, let key, let expected):
            return "\(file): \"\(key)\" must be \(expected)"
        case .unsupported(let file, let key, let value):
            return "\(file): \"\(key)\" value \(value) is not supported"
        case .invalidStepCount(let steps, let trainSteps):
            return "scheduler: \(steps) inference steps; expected 1...\(trainSteps)"
        }
    }
}

public enum BetaSchedule: String, Sendable, Decodable {
    case linear
    case scaledLinear = "scaled_linear"
    case squaredCosine = "squaredcos_cap_v2"
}

/// How inference timesteps are picked from the training steps (Table 2 of "Common Diffusion Noise Schedules
/// and Sample Steps are Flawed", as diffusers names them).
public enum TimestepSpacing: String, Sendable, Decodable {
    case leading, trailing, linspace
}

public enum PredictionType: String, Sendable, Decodable {
    case epsilon
    case sample
    case vPrediction = "v_prediction"
}

public enum FinalSigmasType: String, Sendable, Decodable {
    case zero
    case sigmaMin = "sigma_min"
}

/// The keys of a diffusers `scheduler_config.json` that the four supported schedulers read. Keys this engine
/// does not know are ignored (as diffusers' `from_config` ignores keys a scheduler does not take); a known key
/// with a value of the wrong type is an error. Optional fields are those whose default depends on the scheduler.
public struct SchedulerConfig: Sendable, Decodable, Equatable {
    public var numTrainTimesteps = 1000
    public var betaStart = 0.0001
    public var betaEnd = 0.02
    public var betaSchedule = BetaSchedule.linear
    public var trainedBetas: [Double]?
    public var predictionType = PredictionType.epsilon
    /// Default: `leading` for DDIM, `linspace` for Euler, Euler ancestral and DPM-Solver.
    public var timestepSpacing: TimestepSpacing?
    public var stepsOffset = 0
    /// DDIM: use ᾱ = 1 (instead of ᾱ₀) after the last step.
    public var setAlphaToOne = true
    /// DDIM: clamp the predicted x₀ to ±clipSampleRange.
    public var clipSample = true
    public var clipSampleRange = 1.0
    public var useKarrasSigmas = false
    public var finalSigmasType = FinalSigmasType.zero
    /// Karras range overrides (Euler/DPM); nil → the schedule's own extremes.
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    /// DPM-Solver.
    public var solverOrder = 2
    public var lowerOrderFinal = true
    public var eulerAtFinal = false
    /// Settings whose non-default values this engine does not implement. They are kept as read and checked
    /// only by the scheduler that would use them (`validate(for:)`), as diffusers ignores another scheduler's keys.
    public var algorithmType: String?
    public var solverType: String?
    public var interpolationType: String?
    public var timestepType: String?
    public var thresholding = false
    public var rescaleBetasZeroSnr = false
    public var useExponentialSigmas = false
    public var useBetaSigmas = false
    public var useLuLambdas = false
    /// The file name used in error messages.
    public var source = "scheduler_config.json"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case setAlphaToOne = "set_alpha_to_one"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case useKarrasSigmas = "use_karras_sigmas"
        case finalSigmasType = "final_sigmas_type"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case solverOrder = "solver_order"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case interpolationType = "interpolation_type"
        case thresholding
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case timestepType = "timestep_type"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case useLuLambdas = "use_lu_lambdas"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // JSON null means "use the default" in diffusers configs (e.g. "trained_betas": null). Any failure
        // is reported against its key (Foundation's own errors do not always carry the coding path).
        func read<T: Decodable>(_ key: CodingKeys, _ current: T?) throws -> T? {
            do {
                return try c.decodeIfPresent(T.self, forKey: key) ?? current
            } catch {
                if T.self is any RawRepresentable.Type, let text = try? c.decode(String.self, forKey: key) {
                    throw KeyProblem(key: key.rawValue, problem: .unsupported(value: "\"\(text)\""))
                }
                throw KeyProblem(key: key.rawValue, problem: .wrongType(expected: Self.expectedDescription(T.self)))
            }
        }
        func read<T: Decodable>(_ key: CodingKeys, _ current: T) throws -> T {
            try read(key, Optional(current)) ?? current
        }
        numTrainTimesteps = try read(.numTrainTimesteps, numTrainTimesteps)
        betaStart = try read(.betaStart, betaStart)
        betaEnd = try read(.betaEnd, betaEnd)
        betaSchedule = try read(.betaSchedule, betaSchedule)
        trainedBetas = try read(.trainedBetas, nil as [Double]?)
        predictionType = try read(.predictionType, predictionType)
        timestepSpacing = try read(.timestepSpacing, nil as TimestepSpacing?)
        stepsOffset = try read(.stepsOffset, stepsOffset)
        setAlphaToOne = try read(.setAlphaToOne, setAlphaToOne)
        clipSample = try read(.clipSample, clipSample)
        clipSampleRange = try read(.clipSampleRange, clipSampleRange)
        useKarrasSigmas = try read(.useKarrasSigmas, useKarrasSigmas)
        finalSigmasType = try read(.finalSigmasType, finalSigmasType)
        sigmaMin = try read(.sigmaMin, nil as Double?)
        sigmaMax = try read(.sigmaMax, nil as Double?)
        solverOrder = try read(.solverOrder, solverOrder)
        lowerOrderFinal = try read(.lowerOrderFinal, lowerOrderFinal)
        eulerAtFinal = try read(.eulerAtFinal, eulerAtFinal)

        algorithmType = try read(.algorithmType, nil as String?)
        solverType = try read(.solverType, nil as String?)
        interpolationType = try read(.interpolationType, nil as String?)
        timestepType = try read(.timestepType, nil as String?)
        thresholding = try read(.thresholding, thresholding)
        rescaleBetasZeroSnr = try read(.rescaleBetasZeroSnr, rescaleBetasZeroSnr)
        useExponentialSigmas = try read(.useExponentialSigmas, useExponentialSigmas)
        useBetaSigmas = try read(.useBetaSigmas, useBetaSigmas)
        useLuLambdas = try read(.useLuLambdas, useLuLambdas)
    }

    /// Rejects settings that `kind` would honour in diffusers but this engine does not implement.
    public func validate(for kind: SchedulerKind) throws {
        func check(_ key: CodingKeys, _ value: String?, allowed: [String]) throws {
            if let value, !allowed.contains(value) {
                throw SchedulerError.unsupported(file: source, key: key.rawValue, value: "\"\(value)\"")
            }
        }
        func check(_ key: CodingKeys, _ value: Bool) throws {
            if value { throw SchedulerError.unsupported(file: source, key: key.rawValue, value: "true") }
        }
        try check(.rescaleBetasZeroSnr, rescaleBetasZeroSnr)
        switch kind {
        case .ddim:
            try check(.thresholding, thresholding)
        case .euler, .eulerAncestral:
            try check(.interpolationType, interpolationType, allowed: ["linear"])
            try check(.timestepType, timestepType, allowed: ["discrete"])
            if kind == .euler {
                try check(.useExponentialSigmas, useExponentialSigmas)
                try check(.useBetaSigmas, useBetaSigmas)
            }
        case .dpmSolverMultistep:
            try check(.thresholding, thresholding)
            // diffusers itself maps "deis" to dpmsolver++ and the UniPC solver types to midpoint.
            try check(.algorithmType, algorithmType, allowed: ["dpmsolver++", "deis"])
            try check(.solverType, solverType, allowed: ["midpoint", "logrho", "bh1", "bh2"])
            try check(.useExponentialSigmas, useExponentialSigmas)
            try check(.useBetaSigmas, useBetaSigmas)
            try check(.useLuLambdas, useLuLambdas)
            if solverOrder != 1 && solverOrder != 2 {
                throw SchedulerError.unsupported(file: source, key: CodingKeys.solverOrder.rawValue,
                                                 value: "\(solverOrder)")
            }
        }
    }

    /// Reads `scheduler_config.json` (or any file of that shape).
    public static func load(from url: URL) throws -> SchedulerConfig {
        let name = url.lastPathComponent
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SchedulerError.unreadable(file: name, reason: "cannot be read")
        }
        return try decode(data, file: name)
    }

    /// A key whose value could not be used, found while decoding (the file name is added by `decode`).
    private struct KeyProblem: Error {
        enum Problem { case wrongType(expected: String), unsupported(value: String) }
        let key: String
        let problem: Problem
    }

    /// Decodes config JSON, turning decoding failures into one-line errors that name the key.
    public static func decode(_ data: Data, file: String) throws -> SchedulerConfig {
        do {
            var config = try JSONDecoder().decode(SchedulerConfig.self, from: data)
            config.source = file
            return config
        } catch let problem as KeyProblem {
            switch problem.problem {
            case .wrongType(let expected):
                throw SchedulerError.wrongType(file: file, key: problem.key, expected: expected)
            case .unsupported(let value):
                throw SchedulerError.unsupported(file: file, key: problem.key, value: value)
            }
        } catch {
            throw SchedulerError.unreadable(file: file, reason: "expected a JSON object")
        }
    }

    private static func expectedDescription(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is [Double].Type: return "a list of numbers"
        case is BetaSchedule.Type: return "one of linear, scaled_linear, squaredcos_cap_v2"
        case is TimestepSpacing.Type: return "one of leading, trailing, linspace"
        case is PredictionType.Type: return "one of epsilon, sample, v_prediction"
        case is FinalSigmasType.Type: return "one of zero, sigma_min"
        default: return "a \(type)"
        }
    }
}
