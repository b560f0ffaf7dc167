import Foundation

/// The models of one Stable Diffusion checkpoint, loaded once and shared by every generation and training run.
public struct PipelineModels: Sendable {
    public var architecture: CheckpointArchitecture
    public var tokenizer: CLIPTokenizer
    public var textEncoder: CLIPTextModel
    /// SDXL's second tokenizer (pads with "!") and encoder (OpenCLIP bigG with the pooled projection).
    public var tokenizer2: CLIPTokenizer?
    public var textEncoder2: CLIPTextModel?
    public var unet: UNet2DConditionModel
    public var vae: AutoencoderKL
    public var scheduler: SchedulerConfig
    /// SDXL base gives zero embeddings (not the empty prompt's) as the unconditional input when no negative
    /// prompt is given (`force_zeros_for_empty_prompt` in model_index.json).
    public var zeroEmbeddingsForMissingNegative: Bool
    /// Stored tensors nothing read: a wrong family or a damaged file shows up here.
    public var unusedTensors: [String]

    /// Loads a diffusers folder (`model_index.json`) or a single-file `.safetensors` checkpoint (LDM/SGM naming).
    /// A single file takes its configs (and tokenizers) from `configFolder`, a diffusers folder of the same
    /// model's layout, or else from the bundled configs of its detected architecture — as diffusers'
    /// `from_single_file(path, config=…)`.
    public static func load(from url: URL, configFolder: URL? = nil) throws -> PipelineModels {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw WeightsError.cannotRead(file: url.path, reason: "no such file or folder")
        }
        return isDirectory.boolValue ? try loadFolder(url) : try loadSingleFile(url, configFolder: configFolder)
    }

    static func loadFolder(_ folder: URL) throws -> PipelineModels {
        let index = folder.appendingPathComponent("model_index.json")
        guard FileManager.default.fileExists(atPath: index.path) else {
            throw WeightsError.notADiffusersFolder(path: folder.path, reason: "no model_index.json")
        }
        let modelIndex = try JSONValue(contentsOf: index)
        let hasSecondEncoder = modelIndex["text_encoder_2"]?.arrayValue?.first?.stringValue != nil
        func weights(_ component: String, _ names: [String]) throws -> ParameterReader {
            let directory = folder.appendingPathComponent(component)
            // Full precision first; fp16/bf16 variants when that is all there is.
            let candidates = names.flatMap { name -> [String] in
                let stem = (name as NSString).deletingPathExtension
                return [name, "\(stem).fp16.safetensors", "\(stem).bf16.safetensors"]
            }
            for candidate in candidates where FileManager.default.fileExists(atPath: directory.appendingPathComponent(candidate).path) {
                return ParameterReader(componentFile: try WeightFile.open(directory.appendingPathComponent(candidate)))
            }
            throw WeightsError.notADiffusersFolder(path: directory.path, reason: "no \(names[0]) (safetensors weights) in \(component)/")
        }
        let unetConfig = try UNetConfiguration.load(from: folder.appendingPathComponent("unet/config.json"))
        let vaeConfig = try AutoencoderConfiguration.load(from: folder.appendingPathComponent("vae/config.json"))
        let textConfig = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("text_encoder/config.json"))
        var readers = [try weights("unet", ["diffusion_pytorch_model.safetensors"]),
                       try weights("vae", ["diffusion_pytorch_model.safetensors"]),
                       try weights("text_encoder", ["model.safetensors"])]
        var models = PipelineModels(
            architecture: unetConfig.textTimeEmbedding != nil ? .sdxl : (textConfig.activation == .gelu ? .sd2 : .sd1),
            tokenizer: try CLIPTokenizer.load(folder: folder.appendingPathComponent("tokenizer")),
            textEncoder: try CLIPTextModel(configuration: textConfig, parameters: readers[2]),
            tokenizer2: nil, textEncoder2: nil,
            unet: try UNet2DConditionModel(configuration: unetConfig, parameters: readers[0]),
            vae: try AutoencoderKL(configuration: vaeConfig, parameters: readers[1]),
            scheduler: try SchedulerConfig.load(from: folder.appendingPathComponent("scheduler/scheduler_config.json")),
            zeroEmbeddingsForMissingNegative: modelIndex["force_zeros_for_empty_prompt"]?.boolValue ?? hasSecondEncoder,
            unusedTensors: [])
        if hasSecondEncoder {
            let config2 = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("text_encoder_2/config.json"))
            readers.append(try weights("text_encoder_2", ["model.safetensors"]))
            models.tokenizer2 = try CLIPTokenizer.load(folder: folder.appendingPathComponent("tokenizer_2"), defaultPadToken: "!")
            models.textEncoder2 = try CLIPTextModel(configuration: config2, parameters: readers[3])
        }
        models.unusedTensors = readers.flatMap(\.unusedStoredKeys)
        return models
    }

    static func loadSingleFile(_ url: URL, configFolder: URL?) throws -> PipelineModels {
        let file = try WeightFile.open(url)
        let keys = Set(file.tensorNames)
        guard let architecture = CheckpointArchitecture.detect(singleFileKeys: keys) else {
            throw WeightsError.invalidConfig(file: url.path, problem: "not a Stable Diffusion 1.x/2.x/XL checkpoint "
                + "(none of its marker tensors: a LoRA or membrane file is not a base model)")
        }
        let configs = try configFolder ?? bundledConfigFolder(architecture)
        let vaeConfig = try AutoencoderConfiguration.load(from: configs.appendingPathComponent("vae/config.json"))
        let levels = vaeConfig.blockOutChannels.count
        let unetReader = ParameterReader(singleFile: file, component: .unet, vaeLevels: levels)
        let vaeReader = ParameterReader(singleFile: file, component: .vae, vaeLevels: levels)
        let textReader = ParameterReader(singleFile: file, component: .textEncoder, vaeLevels: levels)
        var scheduler = try SchedulerConfig.load(from: configs.appendingPathComponent("scheduler/scheduler_config.json"))
        if let declared = CheckpointArchitecture.declaredPrediction(singleFileKeys: keys) { scheduler.predictionType = declared }
        var models = PipelineModels(
            architecture: architecture,
            tokenizer: try CLIPTokenizer.load(folder: configs.appendingPathComponent("tokenizer"),
                                              defaultPadToken: architecture == .sd2 ? "!" : "<|endoftext|>"),
            textEncoder: try CLIPTextModel(configuration: try TextEncoderConfiguration.load(from: configs.appendingPathComponent("text_encoder/config.json")),
                                           parameters: textReader),
            tokenizer2: nil, textEncoder2: nil,
            unet: try UNet2DConditionModel(configuration: try UNetConfiguration.load(from: configs.appendingPathComponent("unet/config.json")),
                                           parameters: unetReader),
            vae: try AutoencoderKL(configuration: vaeConfig, parameters: vaeReader),
            scheduler: scheduler,
            zeroEmbeddingsForMissingNegative: architecture == .sdxl,
            unusedTensors: [])
        var readers = [unetReader, vaeReader, textReader]
        if architecture == .sdxl {
            let reader2 = ParameterReader(singleFile: file, component: .textEncoder2, vaeLevels: levels)
            models.tokenizer2 = try CLIPTokenizer.load(folder: configs.appendingPathComponent("tokenizer_2"), defaultPadToken: "!")
            models.textEncoder2 = try CLIPTextModel(
                configuration: try TextEncoderConfiguration.load(from: configs.appendingPathComponent("text_encoder_2/config.json")),
                parameters: reader2)
            readers.append(reader2)
        }
        // Unused: mapped to a parameter no component read, or mapped nowhere (known non-weights are not reported).
        models.unusedTensors = (readers.flatMap(\.unusedStoredKeys)
            + file.tensorNames.filter { SingleFileKeyMap.map($0, vaeLevels: levels) == .unknown }).sorted()
        return models
    }

    /// The bundled diffusers configs for single files of `architecture`.
    public static func bundledConfigFolder(_ architecture: CheckpointArchitecture) throws -> URL {
        guard let url = Bundle.module.url(forResource: architecture.bundledConfigName, withExtension: nil,
                                          subdirectory: "Resources/ModelConfigs") else {
            throw WeightsError.cannotRead(file: "Resources/ModelConfigs/\(architecture.bundledConfigName)",
                                         reason: "the bundled model configs are missing next to the executable")
        }
        return url
    }
}
