import Foundation

extension JSONValue {
    /// Reads a JSON file strictly (duplicate keys, bad UTF-8 and the like are errors naming the file).
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw WeightsError.cannotRead(file: url.path, reason: (error as NSError).localizedDescription)
        }
        do {
            self = try JSONParser.parse(data)
        } catch {
            throw WeightsError.invalidConfig(file: url.path, problem: "not valid JSON: \(error.description)")
        }
    }
}

/// What a diffusers model folder (one with `model_index.json`) holds: its components, their configs and weight
/// files. Reading it opens every safetensors file once (headers only) to count parameters; pickled weight files
/// are listed but never opened.
public struct DiffusersFolder: Sendable {
    /// One safetensors file of a component.
    public struct WeightFileSummary: Sendable, Equatable {
        public let fileName: String
        /// The diffusers variant in the name (`fp16` in `diffusion_pytorch_model.fp16.safetensors` or in the shard
        /// `model.fp16-00001-of-00002.safetensors`), or nil.
        public let variant: String?
        public let tensorCount: Int
        public let parameterCount: Int
        public let dtypeCounts: [ElementType: Int]
    }

    /// One pipeline component (`unet`, `vae`, `text_encoder`, `tokenizer`, `scheduler`, …).
    public struct Component: Sendable {
        public let name: String
        /// The library and class `model_index.json` names (e.g. "diffusers", "UNet2DConditionModel").
        public let library: String?
        public let className: String?
        /// The config file's name inside the component folder, when one exists.
        public let configFileName: String?
        public let config: JSONValue?
        public let weightFiles: [WeightFileSummary]
        /// Pickled weight files found in the folder (listed, never opened).
        public let pickleFiles: [String]

        /// The config entries that characterise the component (channels, widths, layer counts, schedule…),
        /// in a fixed order; absent and null entries are left out.
        public var keyFigures: [JSONMember] {
            guard let config else { return [] }
            return DiffusersFolder.keyFigureNames.compactMap { key in
                guard let value = config[key], value != .null else { return nil }
                return JSONMember(key, value)
            }
        }
    }

    static let keyFigureNames = [
        "sample_size", "in_channels", "out_channels", "block_out_channels", "layers_per_block",
        "cross_attention_dim", "attention_head_dim", "transformer_layers_per_block", "use_linear_projection",
        "addition_embed_type", "latent_channels", "scaling_factor",
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "projection_dim",
        "vocab_size", "max_position_embeddings", "hidden_act",
        "num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "prediction_type", "timestep_spacing",
        "model_max_length",
    ]

    static let configFileNames = ["config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json"]

    public let path: String
    /// `_class_name` of `model_index.json` (e.g. "StableDiffusionPipeline").
    public let pipelineClass: String?
    public let diffusersVersion: String?
    /// Components that are present (entries like `"safety_checker": [null, null]` are left out), in file order.
    public let components: [Component]
    /// Other `model_index.json` entries (e.g. `requires_safety_checker`).
    public let options: [JSONMember]

    /// Whether `url` is a folder with a `model_index.json`.
    public static func isDiffusersFolder(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path)
    }

    public init(url: URL) throws {
        path = url.path
        let indexURL = url.appendingPathComponent("model_index.json")
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw WeightsError.notADiffusersFolder(path: path, reason: "no model_index.json")
        }
        let index = try JSONValue(contentsOf: indexURL)
        guard let members = index.members else {
            throw WeightsError.invalidConfig(file: indexURL.path, problem: "expected a JSON object")
        }
        pipelineClass = index["_class_name"]?.stringValue
        diffusersVersion = index["_diffusers_version"]?.stringValue
        var components: [Component] = []
        var options: [JSONMember] = []
        for member in members where !member.key.hasPrefix("_") {
            // A component entry is [library, class]; [null, null] marks one the pipeline leaves out.
            if let pair = member.value.arrayValue, pair.count == 2 {
                if pair[0] == .null && pair[1] == .null { continue }
                components.append(try DiffusersFolder.readComponent(
                    name: member.key, library: pair[0].stringValue, className: pair[1].stringValue,
                    folder: url.appendingPathComponent(member.key)))
            } else {
                options.append(member)
            }
        }
        self.components = components
        self.options = options
    }

    private static func readComponent(name: String, library: String?, className: String?, folder: URL) throws -> Component {
        let fileNames = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        let configFileName = configFileNames.first { fileNames.contains($0) }
        let config = try configFileName.map { try JSONValue(contentsOf: folder.appendingPathComponent($0)) }
        var weightFiles: [WeightFileSummary] = []
        var pickleFiles: [String] = []
        for fileName in fileNames {
            let url = folder.appendingPathComponent(fileName)
            if url.pathExtension == "safetensors" {
                let file = try WeightFile.open(url)
                var dtypeCounts: [ElementType: Int] = [:]
                for tensor in file.tensors { dtypeCounts[tensor.dtype, default: 0] += 1 }
                // `diffusion_pytorch_model.fp16.safetensors`, shards `model.fp16-00001-of-00002.safetensors`.
                let variant = ["diffusion_pytorch_model", "model"].lazy
                    .compactMap { ComponentWeights.parse(fileName, stem: $0) }.first?.variant
                weightFiles.append(WeightFileSummary(
                    fileName: fileName, variant: variant, tensorCount: file.tensors.count,
                    parameterCount: file.parameterCount, dtypeCounts: dtypeCounts))
            } else if WeightFile.pickleExtensions.contains(url.pathExtension.lowercased()) {
                pickleFiles.append(fileName)
            }
        }
        return Component(name: name, library: library, className: className, configFileName: configFileName,
                         config: config, weightFiles: weightFiles, pickleFiles: pickleFiles)
    }
}
