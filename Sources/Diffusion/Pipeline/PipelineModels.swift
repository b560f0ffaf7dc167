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
    /// What the load read from which files, and what it left unread.
    public var loadReport: LoadReport

    /// Stored tensors nothing read: a wrong family or a damaged file shows up here.
    public var unusedTensors: [String] { loadReport.unusedTensors }

    /// Loads a diffusers folder (`model_index.json`) or a single-file `.safetensors` checkpoint (LDM/SGM naming).
    /// A single file takes its configs (and tokenizers) from `configFolder`, a diffusers folder of the same
    /// model's layout, or else from the bundled configs of its detected architecture — as diffusers'
    /// `from_single_file(path, config=…)`. `variant` picks precision-variant files of a folder
    /// (`ComponentWeights` says how). The first missing or mis-shaped tensor is an error naming it.
    /// `layerWeights` bf16 keeps the linear and convolution layers' weights in bf16 only, converted layer by
    /// layer as they load (`ParameterReader.layerWeightPrecision`): half the memory, for frozen models run at bf16.
    public static func load(from url: URL, configFolder: URL? = nil, variant: String? = nil,
                            layerWeights: ComputePrecision = .fp32) throws -> PipelineModels {
        try load(from: url, configFolder: configFolder, variant: variant, checkingOnly: false, layerWeights: layerWeights)
    }

    /// What loading `url` would read, without reading any tensor data: every missing, mis-shaped and unused
    /// tensor of every component (a normal load stops at the first problem). Errors are only those that stop a
    /// load before any tensor: unreadable files, configs, tokenizers, an unknown single file.
    public static func checkLoad(from url: URL, configFolder: URL? = nil, variant: String? = nil) throws -> LoadReport {
        try load(from: url, configFolder: configFolder, variant: variant, checkingOnly: true).loadReport
    }

    static func load(from url: URL, configFolder: URL?, variant: String?, checkingOnly: Bool,
                     layerWeights: ComputePrecision = .fp32) throws -> PipelineModels {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw WeightsError.cannotRead(file: url.path, reason: "no such file or folder")
        }
        if isDirectory.boolValue {
            return try loadFolder(url, variant: variant, checkingOnly: checkingOnly, layerWeights: layerWeights)
        }
        if let variant {
            throw WeightsError.invalidConfig(file: url.path, problem: "a single file has no precision variants "
                + "(variant \(variant) applies to diffusers folders)")
        }
        return try loadSingleFile(url, configFolder: configFolder, checkingOnly: checkingOnly, layerWeights: layerWeights)
    }

    static func loadFolder(_ folder: URL, variant: String?, checkingOnly: Bool,
                           layerWeights: ComputePrecision) throws -> PipelineModels {
        let index = folder.appendingPathComponent("model_index.json")
        guard FileManager.default.fileExists(atPath: index.path) else {
            throw WeightsError.notADiffusersFolder(path: folder.path, reason: "no model_index.json")
        }
        let modelIndex = try JSONValue(contentsOf: index)
        let hasSecondEncoder = modelIndex["text_encoder_2"]?.arrayValue?.first?.stringValue != nil
        // Weight file names: diffusers models' and transformers models'.
        var stems = ["unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"]
        if hasSecondEncoder { stems["text_encoder_2"] = "model" }
        // As diffusers: a variant no component has is an error, not a silent full-precision load.
        let available = Set(stems.flatMap { ComponentWeights.variants(in: folder.appendingPathComponent($0.key), stem: $0.value) })
        if let variant, !available.contains(variant) {
            throw WeightsError.variantNotFound(folder: folder.path, variant: variant, available: available.sorted())
        }
        var opened: [(weights: ComponentWeights, reader: ParameterReader)] = []
        var models = try build(folder: folder, modelIndex: modelIndex) { component in
            let weights = try ComponentWeights.open(folder: folder.appendingPathComponent(component),
                                                    stem: stems[component, default: "model"], variant: variant)
            let reader = ParameterReader(componentFiles: weights.files, checkingOnly: checkingOnly)
            reader.layerWeightPrecision = layerWeights
            opened.append((weights, reader))
            return reader
        }
        models.loadReport = LoadReport(components: opened.map { $0.reader.report(component: $0.weights.component, variant: $0.weights.variant) })
        return models
    }

    /// The models a diffusers config folder describes, with seeded random weights instead of checkpoint
    /// files: full-size models from their real configs (e.g. `bundledConfigFolder`) for benchmarks and
    /// memory checks, with no weights on disk. `layerWeights` as in `load`.
    public static func randomWeights(configFolder folder: URL, seed: UInt64,
                                     layerWeights: ComputePrecision = .fp32) throws -> PipelineModels {
        let modelIndex = try JSONValue(contentsOf: folder.appendingPathComponent("model_index.json"))
        var readers: [(component: String, reader: ParameterReader)] = []
        var models = try build(folder: folder, modelIndex: modelIndex) { component in
            readers.append((component, ParameterReader(randomWithSeed: seed)))
            readers[readers.count - 1].reader.layerWeightPrecision = layerWeights
            return readers[readers.count - 1].reader
        }
        // The report counts each component's parameters (all made up, none read).
        models.loadReport = LoadReport(components: readers.map { $0.reader.report(component: $0.component) })
        return models
    }

    /// Builds every component from the folder's configs and tokenizers, taking each one's parameters from
    /// `weights(component folder name)`.
    private static func build(folder: URL, modelIndex: JSONValue,
                              weights: (String) throws -> ParameterReader) throws -> PipelineModels {
        let hasSecondEncoder = modelIndex["text_encoder_2"]?.arrayValue?.first?.stringValue != nil
        let unetConfig = try UNetConfiguration.load(from: folder.appendingPathComponent("unet/config.json"))
        let vaeConfig = try AutoencoderConfiguration.load(from: folder.appendingPathComponent("vae/config.json"))
        let textConfig = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("text_encoder/config.json"))
        var models = PipelineModels(
            architecture: CheckpointArchitecture(unet: unetConfig, textEncoder: textConfig),
            tokenizer: try CLIPTokenizer.load(folder: folder.appendingPathComponent("tokenizer")),
            textEncoder: try CLIPTextModel(configuration: textConfig, parameters: try weights("text_encoder")),
            tokenizer2: nil, textEncoder2: nil,
            unet: try UNet2DConditionModel(configuration: unetConfig, parameters: try weights("unet")),
            vae: try AutoencoderKL(configuration: vaeConfig, parameters: try weights("vae")),
            scheduler: try SchedulerConfig.load(from: folder.appendingPathComponent("scheduler/scheduler_config.json")),
            zeroEmbeddingsForMissingNegative: modelIndex["force_zeros_for_empty_prompt"]?.boolValue ?? hasSecondEncoder,
            loadReport: LoadReport(components: []))
        if hasSecondEncoder {
            let config2 = try TextEncoderConfiguration.load(from: folder.appendingPathComponent("text_encoder_2/config.json"))
            models.tokenizer2 = try CLIPTokenizer.load(folder: folder.appendingPathComponent("tokenizer_2"), defaultPadToken: "!")
            models.textEncoder2 = try CLIPTextModel(configuration: config2, parameters: try weights("text_encoder_2"))
        }
        return models
    }

    static func loadSingleFile(_ url: URL, configFolder: URL?, checkingOnly: Bool,
                               layerWeights: ComputePrecision) throws -> PipelineModels {
        let file = try WeightFile.open(url)
        let keys = Set(file.tensorNames)
        let detected = CheckpointArchitecture.detect(singleFileKeys: keys)
        // With a config folder the layout is the folder's (as diffusers' `config=`): tiny or pruned files lack
        // the marker tensors. Without one it must be detected, to pick the bundled configs.
        guard detected != nil || (configFolder != nil && keys.contains(where: { $0.hasPrefix("model.diffusion_model.") })) else {
            throw WeightsError.invalidConfig(file: url.path, problem: "not a Stable Diffusion 1.x/2.x/XL checkpoint "
                + "(none of its marker tensors: a LoRA or membrane file is not a base model)")
        }
        let configs = try configFolder ?? bundledConfigFolder(detected ?? .sd1)
        let unetConfig = try UNetConfiguration.load(from: configs.appendingPathComponent("unet/config.json"))
        let vaeConfig = try AutoencoderConfiguration.load(from: configs.appendingPathComponent("vae/config.json"))
        let textConfig = try TextEncoderConfiguration.load(from: configs.appendingPathComponent("text_encoder/config.json"))
        let architecture = configFolder == nil ? detected ?? .sd1 : CheckpointArchitecture(unet: unetConfig, textEncoder: textConfig)
        let levels = vaeConfig.blockOutChannels.count
        func reader(_ component: SingleFileKeyMap.Component) -> ParameterReader {
            let reader = ParameterReader(singleFile: file, component: component, vaeLevels: levels,
                                         checkingOnly: checkingOnly)
            reader.layerWeightPrecision = layerWeights
            return reader
        }
        var readers: [(SingleFileKeyMap.Component, ParameterReader)] = [(.unet, reader(.unet)), (.vae, reader(.vae)),
                                                                          (.textEncoder, reader(.textEncoder))]
        var scheduler = try SchedulerConfig.load(from: configs.appendingPathComponent("scheduler/scheduler_config.json"))
        if let declared = CheckpointArchitecture.declaredPrediction(singleFileKeys: keys) { scheduler.predictionType = declared }
        var models = PipelineModels(
            architecture: architecture,
            tokenizer: try CLIPTokenizer.load(folder: configs.appendingPathComponent("tokenizer"),
                                              defaultPadToken: architecture == .sd2 ? "!" : "<|endoftext|>"),
            textEncoder: try CLIPTextModel(configuration: textConfig, parameters: readers[2].1),
            tokenizer2: nil, textEncoder2: nil,
            unet: try UNet2DConditionModel(configuration: unetConfig, parameters: readers[0].1),
            vae: try AutoencoderKL(configuration: vaeConfig, parameters: readers[1].1),
            scheduler: scheduler,
            zeroEmbeddingsForMissingNegative: architecture == .sdxl,
            loadReport: LoadReport(components: []))
        if architecture == .sdxl {
            readers.append((.textEncoder2, reader(.textEncoder2)))
            models.tokenizer2 = try CLIPTokenizer.load(folder: configs.appendingPathComponent("tokenizer_2"), defaultPadToken: "!")
            models.textEncoder2 = try CLIPTextModel(
                configuration: try TextEncoderConfiguration.load(from: configs.appendingPathComponent("text_encoder_2/config.json")),
                parameters: readers[3].1)
        }
        // Tensors of a component this layout does not have (a second encoder in a file loaded as SD1) are
        // unmapped too: nothing reads them.
        let mappings = file.tensorNames.map { ($0, SingleFileKeyMap.map($0, vaeLevels: levels)) }
        let loaded = Set(readers.map(\.0))
        let unmapped = mappings.filter { _, mapping in
            switch mapping {
            case .unknown: return true
            case .ignored: return false
            case .tensors(let targets): return !targets.contains { loaded.contains($0.component) }
            }
        }.map(\.0)
        models.loadReport = LoadReport(
            components: readers.map { $0.1.report(component: $0.0.rawValue) },
            ignoredTensors: mappings.filter { $0.1 == .ignored }.count,
            unmappedTensors: unmapped.sorted())
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
