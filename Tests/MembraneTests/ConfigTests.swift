import Diffusion
import Foundation
import Testing
@testable import Membrane

/// The repository's `configs/` folder, found from this file's location.
private let configsFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("configs")

private func configFiles() throws -> [URL] {
    let enumerator = FileManager.default.enumerator(at: configsFolder, includingPropertiesForKeys: nil)
    let files = (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "yaml" }
    return files.sorted { $0.path < $1.path }
}

private func isGenerationConfig(_ url: URL) -> Bool { url.lastPathComponent.hasPrefix("generate") }

private let minimalTraining = """
    model:
      path: models/sd15
      family: sd1
    concepts:
      - target: Snoopy
    """

/// The one-line message decoding `text` as `T` fails with.
private func failure<T: Decodable>(_ type: T.Type, _ text: String) -> String? {
    do {
        _ = try YAMLDecoder().decode(type, from: text, file: "c.yaml")
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct ConfigTests {
    @Test func everyShippedConfigLoadsValidatesAndRoundTrips() throws {
        let files = try configFiles()
        #expect(files.count >= 11)
        for family in ["sd15", "sd21", "sdxl", "pony", "testbed"] {
            #expect(files.contains { $0.path.contains("/configs/\(family)/") }, "no config for \(family)")
        }
        for url in files {
            if isGenerationConfig(url) {
                let config = try GenerationConfig.load(from: url)
                #expect(try YAMLDecoder().decode(GenerationConfig.self, from: config.yaml(), file: "rt") == config)
            } else {
                let config = try TrainingConfig.load(from: url)
                #expect(try YAMLDecoder().decode(TrainingConfig.self, from: config.yaml(), file: "rt") == config)
            }
        }
    }

    @Test func shippedConfigsSayWhatTheirFolderPromises() throws {
        let scoreTags = "score_9, score_8_up, score_7_up, score_6_up, score_5_up, score_4_up"
        for url in try configFiles() where !isGenerationConfig(url) {
            let config = try TrainingConfig.load(from: url)
            let folder = url.deletingLastPathComponent().lastPathComponent
            let family: ModelFamily = ["sd15": .sd1, "sd21": .sd2, "sdxl": .sdxl, "pony": .pony, "testbed": .testbed][folder]!
            #expect(config.model.family == family, "\(url.lastPathComponent)")
            if family == .pony {
                #expect(config.concepts.allSatisfy { $0.target.hasPrefix(scoreTags) }, "\(url.lastPathComponent)")
            }
            if url.lastPathComponent.contains("nudity") {
                #expect(config.concepts.allSatisfy { $0.minGate == 1.0 }, "\(url.lastPathComponent)")
            }
            if family == .testbed {
                #expect(config.train.iterations <= 500)
                #expect(config.resolution == .fixed(TestbedWorld.imageSize))
            }
        }
    }

    @Test func trainingDefaultsFollowTheMethod() throws {
        let config = try YAMLDecoder().decode(TrainingConfig.self, from: minimalTraining, file: "c.yaml")
        let concept = try #require(config.concepts.first)
        #expect(concept == ConceptEntry(target: "Snoopy", positive: "Snoopy", neutral: "", unconditional: "",
                                        eraseGuidance: 1, anchorWeight: 1000, anchorsPerStep: 4,
                                        anchorSampler: .vocabulary, minGate: nil))
        #expect(config.network == NetworkConfig(rank: 1, alpha: 1, targetLayers: .transformer))
        let train = config.train
        #expect(train.iterations == 3000 && train.learningRate == 1e-4 && train.optimizer == .adamw)
        #expect(train.lrSchedule == .cosineWithRestarts && train.warmupSteps == nil && train.effectiveWarmupSteps == 500
                && train.restarts == 2)
        #expect(train.denoiseSteps == 30 && train.partialDenoiseGuidance == 3 && train.batchSize == 1)
        #expect(train.gradClip == nil && train.precision == .fp32 && train.seed == 0 && train.weightDecay == 0.01)
        #expect(config.resolution == .fixed(512))
        #expect(config.save == SaveConfig(output: "output", every: 500, name: nil))
        #expect(config.outputName == "erase-snoopy")
        // The warm-up default follows the iteration count, so a short run is valid without naming it.
        let short = try YAMLDecoder().decode(TrainingConfig.self,
                                             from: minimalTraining + "\ntrain:\n  iterations: 60\n", file: "c.yaml")
        #expect(short.train.effectiveWarmupSteps == 10)
    }

    @Test func overridesAreKept() throws {
        let url = configsFolder.appendingPathComponent("sd15/erase-snoopy.yaml")
        let config = try TrainingConfig.load(from: url)
        #expect(config.model == ModelSource(path: "models/stable-diffusion-v1-5", family: .sd1))
        #expect(config.save.name == "erase-snoopy")
        let text = minimalTraining + """

            network: {rank: 4, alpha: 2}
            train:
              iterations: 100
              learning_rate: 5e-3
              optimizer: sgd
              lr_schedule: constant
              warmup_steps: 0
              grad_clip: 1
              dynamic_resolution: {min: 256, max: 448}
              precision: bf16
              seed: 7
            """
        let custom = try YAMLDecoder().decode(TrainingConfig.self, from: text, file: "c.yaml")
        #expect(custom.network == NetworkConfig(rank: 4, alpha: 2))
        #expect(custom.train == TrainingSchedule(iterations: 100, learningRate: 5e-3, optimizer: .sgd,
                                                 lrSchedule: .constant, warmupSteps: 0, gradClip: 1,
                                                 dynamicResolution: DynamicResolution(min: 256, max: 448),
                                                 precision: .bf16, seed: 7))
        #expect(custom.resolution == .dynamic(DynamicResolution(min: 256, max: 448, step: 64)))
        #expect(DynamicResolution(min: 256, max: 448).sizes == [256, 320, 384, 448])
    }

    @Test func generationDefaultsAndOverrides() throws {
        let minimal = "model: {path: m, family: sdxl}\nprompts: [a cat]\n"
        let config = try YAMLDecoder().decode(GenerationConfig.self, from: minimal, file: "g.yaml")
        #expect(config == GenerationConfig(model: ModelSource(path: "m", family: .sdxl), prompts: ["a cat"],
                                           negativePrompt: "", steps: 30, guidance: 7.5, width: nil, height: nil,
                                           seed: 0, scheduler: .ddim, karras: false, membranes: [],
                                           transport: TransportConfig(enabled: true, similarity: .embeddings),
                                           precision: .fp32))
        #expect(config.imageSize == (1024, 1024))
        let example = try GenerationConfig.load(from: configsFolder.appendingPathComponent("generate-example.yaml"))
        #expect(example.membranes == [MembraneUse(path: "output/erase-snoopy.safetensors", weight: 1, minGate: nil)])
        let custom = try YAMLDecoder().decode(GenerationConfig.self, from: minimal + """
            scheduler: dpmpp-2m
            karras: true
            width: 832
            membranes:
              - {path: a.safetensors, weight: -0.5, min_gate: 1}
              - path: b.safetensors
            transport: {enabled: false}
            """, file: "g.yaml")
        #expect(custom.scheduler == .dpmpp2m && custom.karras && custom.imageSize == (832, 1024))
        #expect(custom.membranes == [MembraneUse(path: "a.safetensors", weight: -0.5, minGate: 1),
                                     MembraneUse(path: "b.safetensors")])
        #expect(custom.transport == TransportConfig(enabled: false))
    }

    @Test func roundTripKeepsSpecialStrings() throws {
        let strange = ["", "true", "null", "1e-4", "key: value", "# not a comment", "- dash", "quote \"this\"",
                       "line\nbreak", "tab\t", "café ✓ 日本語 🎨", "score_9, score_8_up, score_7_up", " padded "]
        let training = TrainingConfig(
            model: ModelSource(path: "models/ponyDiffusionV6XL.safetensors", family: .pony, clipSkip: 2),
            concepts: strange.enumerated().map { index, text in
                ConceptEntry(target: "target \(index): \(text)", positive: text.isEmpty ? "x" : text, neutral: text,
                             unconditional: text, eraseGuidance: 0.5, anchorWeight: 0, anchorsPerStep: index,
                             anchorSampler: .vocabulary, anchorPrompts: text.isEmpty ? [] : [text, "a blue circle"],
                             minGate: index % 2 == 0 ? 0.25 : nil, gateThreshold: index % 3 == 0 ? 0.75 : nil)
            },
            network: NetworkConfig(rank: 8, alpha: 0.1),
            train: TrainingSchedule(iterations: 10, learningRate: 3.3e-5, warmupSteps: 9, restarts: 0, gradClip: 0.7,
                                    resolution: 1016, stepsPerTrajectory: 4, adversarialSteps: 3, adversarialLearningRate: 0.05, adversarialTokens: 5, adversarialGate: 0.5,
                                    seed: 18_446_744_073_709_551_615),
            save: SaveConfig(output: "out dir/ü", every: 0, name: "naïve name"))
        try training.validate()
        let trainingText = try training.yaml()
        #expect(try YAMLDecoder().decode(TrainingConfig.self, from: trainingText, file: "rt") == training)
        #expect(trainingText.hasPrefix("model:\n  path: models/ponyDiffusionV6XL.safetensors\n  family: pony\n"))

        let generation = GenerationConfig(
            model: ModelSource(path: "~/models/sd15", family: .sd1), prompts: strange,
            negativePrompt: "blurry, \"bad\"", steps: 4, guidance: 0, width: 64, height: 1024,
            seed: 42, scheduler: .eulerAncestral, karras: true,
            membranes: [MembraneUse(path: "a b.safetensors", weight: 0.75, minGate: 1)],
            transport: TransportConfig(enabled: false), precision: .bf16)
        try generation.validate()
        #expect(try YAMLDecoder().decode(GenerationConfig.self, from: generation.yaml(), file: "rt") == generation)
    }

    @Test func savingWritesAFileThatLoadsBack() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try YAMLDecoder().decode(TrainingConfig.self, from: minimalTraining, file: "c.yaml")
        let url = folder.appendingPathComponent("saved.yaml")
        try config.write(to: url)
        #expect(try TrainingConfig.load(from: url) == config)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["saved.yaml"])

        let wrong = folder.appendingPathComponent("saved.json")
        try Data().write(to: wrong)
        #expect(throws: ConfigError(kind: .unreadable, file: wrong.path, line: nil, field: "",
                                    message: "expected a .yaml or .yml file, found '.json'")) {
            try TrainingConfig.load(from: wrong)
        }
    }

    @Test func errorsNameFileLineAndField() {
        let cases: [(String, String)] = [
            (minimalTraining + "\ntrain:\n  learning_rat: 0.1\n",
             "c.yaml:7: train.learning_rat: unknown key (did you mean 'learning_rate'?)"),
            (minimalTraining + "\ntrain:\n  learning_rate: fast\n",
             "c.yaml:7: train.learning_rate: expected a number, found 'fast'"),
            (minimalTraining + "\ntrain:\n  learning_rate: 0\n",
             "c.yaml:7: train.learning_rate: must be a finite number greater than 0, found 0.0"),
            (minimalTraining + "\ntrain:\n  learning_rate: .inf\n",
             "c.yaml:7: train.learning_rate: must be a finite number greater than 0, found inf"),
            (minimalTraining + "\nnetwork:\n  rank: 0\n", "c.yaml:7: network.rank: must be at least 1, found 0"),
            (minimalTraining + "\nnetwork:\n  alpha: -1\n",
             "c.yaml:7: network.alpha: must be a finite number greater than 0, found -1.0"),
            (minimalTraining + "\ntrain:\n  iterations: 0\n", "c.yaml:7: train.iterations: must be at least 1, found 0"),
            (minimalTraining + "\ntrain:\n  resolution: 500\n",
             "c.yaml:7: train.resolution: must be a positive multiple of 8 pixels, found 500"),
            (minimalTraining + "\ntrain:\n  resolution: 0\n",
             "c.yaml:7: train.resolution: must be a positive multiple of 8 pixels, found 0"),
            (minimalTraining + "\ntrain:\n  iterations: 100\n  warmup_steps: 100\n",
             "c.yaml:8: train.warmup_steps: must be less than iterations (100), found 100"),
            (minimalTraining + "\ntrain:\n  partial_denoise_guidance: -1\n",
             "c.yaml:7: train.partial_denoise_guidance: must be a finite number of at least 0.0, found -1.0"),
            (minimalTraining + "\ntrain:\n  resolution: 512\n  dynamic_resolution: {min: 256, max: 512}\n",
             "c.yaml:8: train.dynamic_resolution: give either resolution or dynamic_resolution, not both"),
            (minimalTraining + "\ntrain:\n  dynamic_resolution: {min: 512, max: 256}\n",
             "c.yaml:7: train.dynamic_resolution.max: must be at least min (512), found 256"),
            (minimalTraining + "\ntrain:\n  optimizer: lion\n",
             "c.yaml:7: train.optimizer: expected one of adamw, adam, sgd, found 'lion'"),
            ("model: {path: m, family: sd1}\nconcepts: []\n", "c.yaml:2: concepts: at least one concept is required"),
            ("model: {path: m, family: sd1}\nconcepts:\n  - target: a\n  - target: \"  \"\n",
             "c.yaml:4: concepts[1].target: must not be empty"),
            ("model: {path: m, family: sd1}\nconcepts:\n  - target: a\n    erase_guidance: -2\n",
             "c.yaml:4: concepts[0].erase_guidance: must be a finite number of at least 0.0, found -2.0"),
            ("model: {path: m, family: sd1}\nconcepts:\n  - target: a\n    min_gate: 1.5\n",
             "c.yaml:4: concepts[0].min_gate: must be between 0 and 1, found 1.5"),
            ("model: {path: m, family: sd1}\nconcepts:\n  - target: a\n    gate_threshold: -0.5\n",
             "c.yaml:4: concepts[0].gate_threshold: must be between 0 and 1, found -0.5"),
            (minimalTraining + "\ntrain:\n  adversarial_steps: -1\n",
             "c.yaml:7: train.adversarial_steps: must be at least 0, found -1"),
            (minimalTraining + "\ntrain:\n  adversarial_tokens: 75\n",
             "c.yaml:7: train.adversarial_tokens: must leave the prompt some of the 75 tokens, found 75"),
            (minimalTraining + "\ntrain:\n  steps_per_trajectory: 0\n",
             "c.yaml:7: train.steps_per_trajectory: must be at least 1, found 0"),
            ("model: {path: m, family: sd1}\nconcepts:\n  - positive: a\n",
             "c.yaml:3: concepts[0].target: missing required key"),
            ("model: {path: m, family: sd3}\nconcepts: [{target: a}]\n",
             "c.yaml:1: model.family: expected one of sd1, sd2, sdxl, pony, illustrious, testbed, found 'sd3'"),
            ("model: {path: m, family: sd1}\nconcepts: [{target: a}]\nsave: {every: -1}\n",
             "c.yaml:3: save.every: must be at least 0, found -1"),
            ("model: {path: m, family: sd1}\nconcepts: [{target: a}]\nconcepts: [{target: b}]\n",
             "c.yaml:3: concepts: duplicate key (first given on line 2)"),
            ("model: {path: m, family: sd1}\nconcepts: [{target: a}]\nextra: 1\n",
             "c.yaml:3: extra: unknown key (known keys here: model, concepts, network, train, save)"),
        ]
        for (text, expected) in cases {
            #expect(failure(TrainingConfig.self, text) == expected)
        }

        let generation = "model: {path: m, family: sd1}\nprompts: [a]\n"
        let generationCases: [(String, String)] = [
            (generation + "width: 500\n", "c.yaml:3: width: must be a positive multiple of 8 pixels, found 500"),
            (generation + "scheduler: ddim\nkarras: true\n",
             "c.yaml:4: karras: Karras sigmas need euler, euler-a or dpmpp-2m, not ddim"),
            (generation + "scheduler: plms\n",
             "c.yaml:3: scheduler: expected one of ddim, euler, euler-a, dpmpp-2m, found 'plms'"),
            (generation + "membranes:\n  - path: a\n    wieght: 2\n",
             "c.yaml:5: membranes[0].wieght: unknown key (did you mean 'weight'?)"),
            (generation + "membranes:\n  - path: a\n    min_gate: -0.1\n",
             "c.yaml:5: membranes[0].min_gate: must be between 0 and 1, found -0.1"),
            (generation + "steps: 0\n", "c.yaml:3: steps: must be from 1 to 1000, found 0"),
            (generation + "guidance: .nan\n", "c.yaml:3: guidance: must be a finite number of at least 0.0, found nan"),
            (generation + "transport: {enabled: yes}\n", "c.yaml:3: transport.enabled: expected true or false, found 'yes'"),
            ("model: {path: m, family: sd1}\nprompts: []\n", "c.yaml:2: prompts: at least one prompt is required"),
        ]
        for (text, expected) in generationCases {
            #expect(failure(GenerationConfig.self, text) == expected)
        }
    }

    @Test func validationCanRunAgainAfterOverrides() throws {
        var config = try YAMLDecoder().decode(TrainingConfig.self, from: minimalTraining, file: "c.yaml")
        config.train.iterations = 100  // as `train --iterations 100` does
        try config.validate()
        #expect(config.train.effectiveWarmupSteps == 16)
        config.train.warmupSteps = 100
        #expect(throws: ConfigValidationError("train", "warmup_steps",
                                              message: "must be less than iterations (100), found 100")) {
            try config.validate()
        }
        #expect("\(ConfigValidationError("concepts", "0", "target", message: "must not be empty"))"
                == "concepts[0].target: must not be empty")
    }
}
