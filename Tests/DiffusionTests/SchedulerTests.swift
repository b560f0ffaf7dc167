import Foundation
import Testing
@testable import Diffusion

private struct SchedulerGolden: Decodable {
    struct Table: Decodable {
        let indices: [Int]
        let betas: [Double]
        let alphas_cumprod: [Double]
    }
    struct Case: Decodable {
        let scheduler: String
        let spacing: String?
        let karras: Bool?
        let steps: Int
        let timesteps: [Double]
        let init_noise_sigma: Double
        let sigmas: [Double]?
        let trajectory: [Double]
        let trajectory_seed: UInt64?
    }
    let tables: [String: Table]
    let cases: [Case]
    let variants: [Case]
}

/// The scalar stand-in for the UNet used by the golden tool (`scalar_model`).
private func scalarModel(_ x: Double, _ t: Double) -> Double {
    0.3 * x + 0.2 * Foundation.sin(0.01 * t) + 0.05
}

/// Runs a schedule the way the tensor sampler will, on a one-element latent.
private func trajectory(_ schedule: any NoiseSchedule, seed: UInt64?) -> [Double] {
    var generator = seed.map { TorchGenerator(seed: $0) }
    var x = Double(Float(0.8) * Float(schedule.initNoiseSigma))
    var previousDenoised = 0.0
    var path = [x]
    for step in schedule.timesteps.indices {
        let output = scalarModel(x * schedule.modelInputScale(step: step), schedule.timesteps[step])
        let conversion = schedule.conversion(step: step)
        var denoised = conversion.denoisedFromSample * x + conversion.denoisedFromOutput * output
        if let clamp = conversion.denoisedClamp { denoised = min(max(denoised, clamp.lowerBound), clamp.upperBound) }
        let epsilon = conversion.epsilonFromSample * x + conversion.epsilonFromOutput * output
        let update = schedule.update(step: step)
        // diffusers draws one torch.randn((1,)) per ancestral step from the pipeline's generator.
        let z = generator.map { _ in Double(generator!.randn(count: 1)[0]) } ?? 0
        x = update.sample * x + update.denoised * denoised + update.epsilon * epsilon
            + update.previousDenoised * previousDenoised + update.noise * z
        previousDenoised = denoised
        path.append(x)
    }
    return path
}

private func config(overrides: [String: Any]) throws -> SchedulerConfig {
    let base = try JSONSerialization.jsonObject(
        with: Data(contentsOf: Goldens.directory.appendingPathComponent("sd15_scheduler_config.json"))) as? [String: Any]
    let merged = (base ?? [:]).merging(overrides) { _, new in new }
    return try SchedulerConfig.decode(JSONSerialization.data(withJSONObject: merged), file: "test")
}

private func kind(_ name: String) -> SchedulerKind {
    switch name {
    case "ddim": return .ddim
    case "euler": return .euler
    case "euler_ancestral": return .eulerAncestral
    default: return .dpmSolverMultistep
    }
}

/// The largest |a − b| / (absolute + relative·|b|): ≤ 1 means every element is within tolerance.
private func toleranceRatio(_ a: [Double], _ b: [Double], relative: Double, absolute: Double) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) / (absolute + relative * abs($1)) }.max() ?? 0
}

private func close(_ a: [Double], _ b: [Double], relative: Double, absolute: Double) -> Bool {
    toleranceRatio(a, b, relative: relative, absolute: absolute) <= 1
}

@Suite("Scheduler tables and coefficients match diffusers")
struct SchedulerTests {
    private static let golden = Result { try Goldens.load(SchedulerGolden.self, from: "schedulers.json") }

    @Test("betas and ᾱ for the three beta schedules")
    func trainingTables() throws {
        let golden = try Self.golden.get()
        for (name, table) in golden.tables {
            let schedule = try TrainingSchedule(config: config(overrides: ["beta_schedule": name]))
            #expect(schedule.count == 1000)
            let betas = table.indices.map { Double(schedule.betas[$0]) }
            let products = table.indices.map { Double(schedule.alphasCumprod[$0]) }
            #expect(close(betas, table.betas, relative: 1e-6, absolute: 1e-9), "betas \(name)")
            #expect(close(products, table.alphas_cumprod, relative: 0, absolute: 1e-7), "alphas_cumprod \(name)")
        }
    }

    @Test("timesteps, sigmas, init σ and trajectories: scheduler × spacing × steps × Karras")
    func cases() throws {
        let golden = try Self.golden.get()
        #expect(golden.cases.count == 54)
        for entry in golden.cases {
            let label = "\(entry.scheduler) \(entry.spacing ?? "") karras=\(entry.karras ?? false) steps=\(entry.steps)"
            var overrides: [String: Any] = ["timestep_spacing": entry.spacing ?? "leading"]
            if entry.karras == true { overrides["use_karras_sigmas"] = true }
            let schedule = try makeNoiseSchedule(kind(entry.scheduler), config: config(overrides: overrides),
                                                 steps: entry.steps)
            check(schedule, against: entry, label: label)
        }
    }

    @Test("set_alpha_to_one, final_sigmas_type, cosine and linear schedules")
    func variants() throws {
        let golden = try Self.golden.get()
        let overrides: [[String: Any]] = [
            ["set_alpha_to_one": true],
            ["final_sigmas_type": "sigma_min"],
            ["final_sigmas_type": "sigma_min"],
            ["final_sigmas_type": "sigma_min", "use_karras_sigmas": true],
            ["beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "trailing"],
            ["beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "timestep_spacing": "linspace"],
        ]
        #expect(golden.variants.count == overrides.count)
        for (entry, override) in zip(golden.variants, overrides) {
            let schedule = try makeNoiseSchedule(kind(entry.scheduler), config: config(overrides: override),
                                                 steps: entry.steps)
            check(schedule, against: entry, label: "\(entry.scheduler) \(override)")
        }
    }

    /// Timesteps agree to one float32 ulp (Euler's Karras timesteps go through float32 logs); the scalar
    /// trajectories to float32 accumulation error (diffusers steps float32 tensors; 50 ancestral steps reach
    /// ~3e-5 relative).
    private func check(_ schedule: any NoiseSchedule, against entry: SchedulerGolden.Case, label: String) {
        let timestepRatio = toleranceRatio(schedule.timesteps, entry.timesteps, relative: 0, absolute: 1e-4)
        #expect(timestepRatio <= 1, "timesteps \(label): \(timestepRatio)")
        #expect(abs(schedule.initNoiseSigma - entry.init_noise_sigma) <= 1e-5 * entry.init_noise_sigma,
                "init σ \(label)")
        if let sigmas = entry.sigmas {
            let mine: [Float]? = (schedule as? EulerSchedule)?.sigmas ?? (schedule as? DPMSolverMultistepSchedule)?.sigmas
            #expect(close(mine?.map(Double.init) ?? [], sigmas, relative: 1e-6, absolute: 1e-8), "sigmas \(label)")
        }
        let path = trajectory(schedule, seed: entry.trajectory_seed)
        let pathRatio = toleranceRatio(path, entry.trajectory, relative: 5e-5, absolute: 1e-5)
        #expect(pathRatio <= 1, "trajectory \(label): \(pathRatio)")
    }
}

@Suite("scheduler_config.json decoding")
struct SchedulerConfigTests {
    @Test("SDXL's config decodes; unknown keys are ignored; defaults depend on the scheduler")
    func realConfig() throws {
        let json = """
        {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0", "beta_end": 0.012,
         "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
         "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
         "sample_max_value": 1.0, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
         "timestep_spacing": "leading", "trained_betas": null, "use_karras_sigmas": false}
        """
        let config = try SchedulerConfig.decode(Data(json.utf8), file: "scheduler_config.json")
        #expect(config.betaSchedule == .scaledLinear && config.betaEnd == 0.012 && config.stepsOffset == 1)
        #expect(config.timestepSpacing == .leading && !config.clipSample && config.trainedBetas == nil)
        let euler = try makeNoiseSchedule(.euler, config: config, steps: 4)
        #expect(euler.timesteps == [751, 501, 251, 1])

        // Without timestep_spacing DDIM is "leading" and Euler "linspace", as in diffusers.
        var bare = config
        bare.timestepSpacing = nil
        #expect(try makeNoiseSchedule(.ddim, config: bare, steps: 4).timesteps == [751, 501, 251, 1])
        #expect(try makeNoiseSchedule(.euler, config: bare, steps: 4).timesteps == [999, 666, 333, 0])
    }

    @Test("a wrong type or unsupported value is a one-line error naming the file and key")
    func errors() {
        func error(_ json: String) -> String {
            do {
                _ = try SchedulerConfig.decode(Data(json.utf8), file: "scheduler_config.json")
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(error(#"{"beta_start": "0.1"}"#) == #"scheduler_config.json: "beta_start" must be a number"#)
        #expect(error(#"{"num_train_timesteps": 1000.5}"#)
            == #"scheduler_config.json: "num_train_timesteps" must be an integer"#)
        #expect(error(#"{"use_karras_sigmas": "yes"}"#)
            == #"scheduler_config.json: "use_karras_sigmas" must be true or false"#)
        #expect(error(#"{"beta_schedule": "sigmoid"}"#)
            == #"scheduler_config.json: "beta_schedule" value "sigmoid" is not supported"#)
        #expect(error("[1, 2]") == "scheduler_config.json: expected a JSON object")

        var config = SchedulerConfig()
        config.algorithmType = "sde-dpmsolver++"
        #expect(throws: SchedulerError.unsupported(file: "scheduler_config.json", key: "algorithm_type",
                                                   value: #""sde-dpmsolver++""#)) {
            try makeNoiseSchedule(.dpmSolverMultistep, config: config, steps: 10)
        }
        // Another scheduler ignores that key, as diffusers' from_config does.
        #expect(throws: Never.self) { try makeNoiseSchedule(.euler, config: config, steps: 10) }
        #expect(throws: SchedulerError.invalidStepCount(0, trainSteps: 1000)) {
            try makeNoiseSchedule(.ddim, config: config, steps: 0)
        }
    }

    @Test("DDIM with η = 1 is the DDPM posterior: ε̂ and noise coefficients split 1 − ᾱ′")
    func ddimEta() throws {
        var config = SchedulerConfig()
        config.clipSample = false
        let schedule = try DDIMSchedule(config: config, steps: 20, eta: 1)
        for step in schedule.timesteps.indices {
            let a = schedule.alphaProducts[step], previous = schedule.previousAlphaProducts[step]
            let update = schedule.update(step: step)
            let posteriorVariance = (1 - previous) / (1 - a) * (1 - a / previous)
            #expect(abs(update.noise * update.noise - posteriorVariance) < 1e-12)
            #expect(abs(update.epsilon * update.epsilon + update.noise * update.noise - (1 - previous)) < 1e-12)
            #expect(update.denoised == previous.squareRoot())
        }
    }
}
