import Diffusion
import Foundation
import Membrane

/// One editable field of a training config, named by its YAML path (`train.learning_rate`, `concepts[0].target`).
/// Text typed into it is read the way the YAML decoder reads that key in a file (the decoder itself reads it), and
/// the whole config is then checked by `TrainingConfig.validate()`, the check loading a file runs: the form has
/// no rules of its own.
public struct ConfigField {
    /// YAML path components, as `ConfigValidationError.path` spells them (`["concepts", "0", "target"]`).
    public let path: [String]
    /// The values a choice field cycles through; nil for free text.
    public let choices: [String]?
    /// Whether the empty text means "left out" (the key's default).
    public let isOptional: Bool
    private let read: (TrainingConfig) -> String
    private let write: (inout TrainingConfig, String) throws(ConfigFieldError) -> Void

    /// `train.learning_rate`, `concepts[0].target`.
    public var name: String { ConfigValidationError(path: path, message: "").field }

    public func text(in config: TrainingConfig) -> String { read(config) }

    /// `config` with this field set from `text`; throws when the text is not a value of the field's type.
    public func applying(_ text: String, to config: TrainingConfig) throws(ConfigFieldError) -> TrainingConfig {
        var edited = config
        try write(&edited, text)
        return edited
    }

    /// The text of the choice after (or before) the current one; nil for free-text fields.
    public func cycled(in config: TrainingConfig, by step: Int) -> String? {
        guard let choices, !choices.isEmpty else { return nil }
        let current = choices.firstIndex(of: read(config)) ?? 0
        return choices[((current + step) % choices.count + choices.count) % choices.count]
    }

    /// Whether a validation problem at `errorPath` belongs to this field (the field itself or a part of it).
    public func owns(_ errorPath: [String]) -> Bool { errorPath.starts(with: path) }

    // MARK: Kinds of field

    /// A string key: the text is the value as typed (no YAML reading, so "Snoopy: the dog" stays a prompt).
    static func text(_ path: [String], _ keyPath: WritableKeyPath<TrainingConfig, String>) -> ConfigField {
        ConfigField(path: path, choices: nil, isOptional: false, read: { $0[keyPath: keyPath] },
                    write: { config, text in config[keyPath: keyPath] = text })
    }

    /// An optional string key: empty text leaves it out.
    static func optionalText(_ path: [String], _ keyPath: WritableKeyPath<TrainingConfig, String?>) -> ConfigField {
        ConfigField(path: path, choices: nil, isOptional: true, read: { $0[keyPath: keyPath] ?? "" },
                    write: { config, text in config[keyPath: keyPath] = text.isEmpty ? nil : text })
    }

    /// A number, enumeration or small mapping: read and shown as YAML.
    static func value<Value: Codable>(_ path: [String], _ keyPath: WritableKeyPath<TrainingConfig, Value>,
                                      choices: [String]? = nil) -> ConfigField {
        let name = ConfigValidationError(path: path, message: "").field
        return ConfigField(path: path, choices: choices, isOptional: false,
                           read: { YAMLText.show($0[keyPath: keyPath]) },
                           write: { config, text throws(ConfigFieldError) in
                               config[keyPath: keyPath] = try YAMLText.read(Value.self, from: text, field: name)
                           })
    }

    /// An optional number or mapping: empty text leaves the key out.
    static func optionalValue<Value: Codable>(_ path: [String], _ keyPath: WritableKeyPath<TrainingConfig, Value?>)
        -> ConfigField {
        let name = ConfigValidationError(path: path, message: "").field
        return ConfigField(path: path, choices: nil, isOptional: true,
                           read: { config in config[keyPath: keyPath].map { YAMLText.show($0) } ?? "" },
                           write: { config, text throws(ConfigFieldError) in
                               let trimmed = text.trimmingCharacters(in: .whitespaces)
                               config[keyPath: keyPath] = trimmed.isEmpty
                                   ? nil : try YAMLText.read(Value.self, from: trimmed, field: name)
                           })
    }

    static func choice<Value: Codable & CaseIterable & RawRepresentable>(
        _ path: [String], _ keyPath: WritableKeyPath<TrainingConfig, Value>) -> ConfigField where Value.RawValue == String {
        value(path, keyPath, choices: Value.allCases.map(\.rawValue))
    }

    // MARK: The form

    /// Every field of `config`, in file order: model, each concept entry, network, train, save.
    public static func fields(for config: TrainingConfig) -> [ConfigField] {
        var fields: [ConfigField] = [
            text(["model", "path"], \.model.path),
            choice(["model", "family"], \.model.family),
            optionalValue(["model", "clip_skip"], \.model.clipSkip),
        ]
        for index in config.concepts.indices {
            let base = ["concepts", "\(index)"]
            fields += [
                text(base + ["target"], \.concepts[index].target),
                text(base + ["positive"], \.concepts[index].positive),
                text(base + ["neutral"], \.concepts[index].neutral),
                text(base + ["unconditional"], \.concepts[index].unconditional),
                value(base + ["erase_guidance"], \.concepts[index].eraseGuidance),
                value(base + ["anchor_weight"], \.concepts[index].anchorWeight),
                value(base + ["anchors_per_step"], \.concepts[index].anchorsPerStep),
                choice(base + ["anchor_sampler"], \.concepts[index].anchorSampler),
                value(base + ["anchor_prompts"], \.concepts[index].anchorPrompts),
                optionalValue(base + ["min_gate"], \.concepts[index].minGate),
                optionalValue(base + ["gate_threshold"], \.concepts[index].gateThreshold),
            ]
        }
        fields += [
            value(["network", "rank"], \.network.rank),
            value(["network", "alpha"], \.network.alpha),
            choice(["network", "target_layers"], \.network.targetLayers),
            value(["train", "iterations"], \.train.iterations),
            value(["train", "learning_rate"], \.train.learningRate),
            choice(["train", "optimizer"], \.train.optimizer),
            value(["train", "weight_decay"], \.train.weightDecay),
            choice(["train", "lr_schedule"], \.train.lrSchedule),
            optionalValue(["train", "warmup_steps"], \.train.warmupSteps),
            value(["train", "restarts"], \.train.restarts),
            optionalValue(["train", "grad_clip"], \.train.gradClip),
            value(["train", "denoise_steps"], \.train.denoiseSteps),
            value(["train", "partial_denoise_guidance"], \.train.partialDenoiseGuidance),
            value(["train", "batch_size"], \.train.batchSize),
            optionalValue(["train", "resolution"], \.train.resolution),
            optionalValue(["train", "dynamic_resolution"], \.train.dynamicResolution),
            choice(["train", "precision"], \.train.precision),
            value(["train", "checkpoint_activations"], \.train.checkpointActivations),
            value(["train", "steps_per_trajectory"], \.train.stepsPerTrajectory),
            value(["train", "adversarial_steps"], \.train.adversarialSteps),
            value(["train", "adversarial_learning_rate"], \.train.adversarialLearningRate),
            value(["train", "adversarial_tokens"], \.train.adversarialTokens),
            value(["train", "adversarial_gate"], \.train.adversarialGate),
            value(["train", "seed"], \.train.seed),
            text(["save", "output"], \.save.output),
            value(["save", "every"], \.save.every),
            optionalText(["save", "name"], \.save.name),
        ]
        return fields
    }

    /// The concept entry a field belongs to, if any.
    public var conceptIndex: Int? {
        path.first == "concepts" && path.count > 1 ? Int(path[1]) : nil
    }
}

/// Text that is not a value of the field's type, with the decoder's own words ("expected a number, found 'abc'").
public struct ConfigFieldError: Error, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String
    public var description: String { "\(field): \(message)" }
}

/// Field values as YAML text: read by the config decoder, shown as the encoder writes them (a mapping on one line).
enum YAMLText {
    static func read<Value: Decodable>(_ type: Value.Type, from text: String, field: String)
        throws(ConfigFieldError) -> Value {
        do {
            return try YAMLDecoder().decode(Value.self, from: text, file: field)
        } catch let error as ConfigError {
            throw ConfigFieldError(field: field, message: error.message)
        } catch let error as ConfigValidationError {
            throw ConfigFieldError(field: field, message: error.description)
        } catch {
            throw ConfigFieldError(field: field, message: "\(error)")
        }
    }

    static func show<Value: Encodable>(_ value: Value) -> String {
        guard let text = try? YAMLEncoder().encode(value) else { return "?" }
        let lines = text.split(separator: "\n").map(String.init)
        return lines.count == 1 ? lines[0] : "{" + lines.joined(separator: ", ") + "}"
    }
}

/// The config being edited, where it came from, and the first problem `TrainingConfig.validate()` finds in it.
public struct ConfigDocument {
    public private(set) var config: TrainingConfig
    /// The file it was loaded from or last saved to.
    public private(set) var path: String?
    /// Edits since the last load or save.
    public private(set) var isModified = false
    public private(set) var fields: [ConfigField]

    public init(config: TrainingConfig, path: String? = nil) {
        self.config = config
        self.path = path
        fields = ConfigField.fields(for: config)
    }

    /// A blank config: the fields a file must give are empty, so the form shows what to fill in.
    public static func blank(modelPath: String?) -> ConfigDocument {
        ConfigDocument(config: TrainingConfig(model: ModelSource(path: modelPath ?? "", family: .sd1),
                                              concepts: [ConceptEntry(target: "")]))
    }

    /// What `validate()` refuses, or nil when the config would load from a file as it is.
    public var problem: ConfigValidationError? {
        do throws(ConfigValidationError) {
            try config.validate()
            return nil
        } catch {
            return error
        }
    }

    /// The message for `text` in field `index`: the decoder's if the text is no value of its type, else the
    /// validator's if it names this field. Nil when the text is acceptable.
    public func check(_ text: String, field index: Int) -> String? {
        var copy = self
        do throws(ConfigFieldError) {
            copy.config = try edited(text, field: index)
        } catch {
            return error.message
        }
        if let problem = copy.problem, fields[index].owns(problem.path) { return problem.description }
        return nil
    }

    public mutating func set(_ text: String, field index: Int) throws(ConfigFieldError) {
        config = try edited(text, field: index)
        isModified = true
    }

    /// The config with field `index` set from `text`. A concept's positive prompt that still equals its target
    /// follows the target, as it does when a file leaves `positive` out.
    private func edited(_ text: String, field index: Int) throws(ConfigFieldError) -> TrainingConfig {
        let field = fields[index]
        var edited = try field.applying(text, to: config)
        if let concept = field.conceptIndex, field.path.last == "target",
           config.concepts[concept].positive == config.concepts[concept].target {
            edited.concepts[concept].positive = edited.concepts[concept].target
        }
        return edited
    }

    /// Appends a concept entry with an empty target (the form then asks for one).
    public mutating func addConcept() {
        config.concepts.append(ConceptEntry(target: ""))
        fields = ConfigField.fields(for: config)
        isModified = true
    }

    public mutating func removeConcept(at index: Int) {
        guard config.concepts.indices.contains(index) else { return }
        config.concepts.remove(at: index)
        fields = ConfigField.fields(for: config)
        isModified = true
    }

    /// Loads a YAML file through `TrainingConfig.load` (decoder and validation, errors with file and line).
    public static func load(from path: String) throws -> ConfigDocument {
        ConfigDocument(config: try TrainingConfig.load(from: URL(fileURLWithPath: path)), path: path)
    }

    /// Writes the config as YAML, atomically; refuses while `validate()` finds a problem.
    public mutating func save(to path: String) throws {
        if let problem { throw problem }
        try config.write(to: URL(fileURLWithPath: path))
        self.path = path
        isModified = false
    }
}
