import Diffusion
import Foundation

/// What a kohya-style LoRA safetensors (the membrane file format, FORMATS.md) holds: detection and summary only.
/// Recognises our own files, kohya's, and those of the original SPM research code.
public struct MembraneFileSummary: Sendable, Equatable {
    /// How the UNet layers are named.
    public enum Naming: String, Sendable {
        /// diffusers module paths (`down_blocks_0_attentions_0_…`): kohya's SD1/SD2 naming, and the research code's.
        case diffusers
        /// SGM/LDM paths (`input_blocks_4_1_…`, `middle_block_…`, `output_blocks_…`): kohya's SDXL naming.
        case sgm
        case mixed
        /// No UNet layers, only text-encoder ones.
        case textEncoderOnly = "text-encoder-only"
    }

    /// Adapted layers (one per `<layer>.lora_down.weight`).
    public let layerCount: Int
    public let unetLayerCount: Int
    public let textEncoderLayerCount: Int
    /// Distinct ranks, ascending.
    public let ranks: [Int]
    /// Distinct alphas, ascending; a layer without an `.alpha` tensor counts as α = rank.
    public let alphas: [Float]
    /// Elements of all down and up matrices.
    public let parameterCount: Int
    public let naming: Naming
    /// The base-model family, or nil when nothing in the file tells.
    public let family: ModelFamily?
    /// What the family was read from (a metadata key, or the key names and shapes that decided).
    public let familyEvidence: String
    public let concepts: [String]
    /// The metadata key the concepts came from (`membrane.concepts` or `prompts`), nil when none.
    public let conceptsSource: String?
    /// Layers that lack their down or their up matrix.
    public let incompleteLayers: [String]
    /// Tensors that are not kohya LoRA tensors (diffusers would reject the file; A1111/ComfyUI skip them).
    public let otherTensorNames: [String]

    static let layerPrefixes = ["lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"]
    static let downSuffix = ".lora_down.weight"
    static let upSuffix = ".lora_up.weight"
    static let alphaSuffix = ".alpha"

    /// The summary of `file` when it is a kohya-style LoRA (at least one `lora_unet_…`/`lora_te…` layer with
    /// a `.lora_down.weight`); nil for any other safetensors file.
    public static func detect(in file: SafetensorsFile) throws -> MembraneFileSummary? {
        struct Layer {
            var down: TensorInfo?
            var up: TensorInfo?
            var alpha: TensorInfo?
        }
        var layers: [String: Layer] = [:]
        var otherTensorNames: [String] = []
        for tensor in file.tensors {
            let name = tensor.name
            guard layerPrefixes.contains(where: { name.hasPrefix($0) }) else {
                otherTensorNames.append(name)
                continue
            }
            if name.hasSuffix(downSuffix) {
                layers[String(name.dropLast(downSuffix.count)), default: Layer()].down = tensor
            } else if name.hasSuffix(upSuffix) {
                layers[String(name.dropLast(upSuffix.count)), default: Layer()].up = tensor
            } else if name.hasSuffix(alphaSuffix) {
                layers[String(name.dropLast(alphaSuffix.count)), default: Layer()].alpha = tensor
            } else {
                otherTensorNames.append(name)
            }
        }
        let adapted = layers.filter { $0.value.down != nil }
        guard !adapted.isEmpty else { return nil }

        var ranks = Set<Int>()
        var alphas = Set<Float>()
        var parameterCount = 0
        for layer in adapted.values {
            guard let down = layer.down else { continue }
            let rank = down.shape.first ?? 1
            ranks.insert(rank)
            if let alpha = layer.alpha, let value = try file.floats(alpha.name).first {
                alphas.insert(value)
            } else {
                alphas.insert(Float(rank))
            }
            parameterCount += down.elementCount + (layer.up?.elementCount ?? 0)
        }
        let unetLayers = adapted.keys.filter { $0.hasPrefix("lora_unet_") }.map { String($0.dropFirst("lora_unet_".count)) }
        let textEncoderLayerCount = adapted.count - unetLayers.count
        let naming = Self.naming(ofUNetLayers: unetLayers)
        let (family, evidence) = Self.family(file: file, unetLayers: unetLayers, naming: naming,
                                             downShapes: adapted.mapValues { $0.down?.shape ?? [] })
        let (concepts, conceptsSource) = Self.concepts(metadata: file.metadata)
        return MembraneFileSummary(
            layerCount: adapted.count,
            unetLayerCount: unetLayers.count,
            textEncoderLayerCount: textEncoderLayerCount,
            ranks: ranks.sorted(),
            alphas: alphas.sorted(),
            parameterCount: parameterCount,
            naming: naming,
            family: family,
            familyEvidence: evidence,
            concepts: concepts,
            conceptsSource: conceptsSource,
            incompleteLayers: layers.filter { $0.value.down == nil || $0.value.up == nil }.keys.sorted(),
            otherTensorNames: otherTensorNames.sorted())
    }

    static func naming(ofUNetLayers layers: [String]) -> Naming {
        let sgm = layers.contains { $0.hasPrefix("input_blocks_") || $0.hasPrefix("middle_block_") || $0.hasPrefix("output_blocks_") }
        let diffusers = layers.contains { $0.hasPrefix("down_blocks_") || $0.hasPrefix("mid_block_") || $0.hasPrefix("up_blocks_") }
        switch (sgm, diffusers) {
        case (true, true): return .mixed
        case (true, false): return .sgm
        case (false, true): return .diffusers
        case (false, false): return layers.isEmpty ? .textEncoderOnly : .diffusers
        }
    }

    /// The family, from the most explicit evidence available: our own metadata, kohya's, SAI ModelSpec, then
    /// the layer names and shapes (SDXL-only names and counts, the cross-attention width, proj_in's rank).
    static func family(file: SafetensorsFile, unetLayers: [String], naming: Naming,
                       downShapes: [String: [Int]]) -> (ModelFamily?, String) {
        let metadata = file.metadata
        if let raw = metadata["membrane.family"] {
            let text = (try? JSONParser.parse(raw.utf8))?.stringValue ?? raw
            if let family = ModelFamily(rawValue: text) { return (family, "membrane.family") }
        }
        if let version = metadata["ss_base_model_version"] {
            if version.hasPrefix("sdxl") { return (.sdxl, "ss_base_model_version=\(version)") }
            if version.hasPrefix("sd_v2") { return (.sd2, "ss_base_model_version=\(version)") }
            if version.hasPrefix("sd_v1") { return (.sd1, "ss_base_model_version=\(version)") }
        }
        if let architecture = metadata["modelspec.architecture"] {
            if architecture.hasPrefix("stable-diffusion-xl") { return (.sdxl, "modelspec.architecture=\(architecture)") }
            if architecture.hasPrefix("stable-diffusion-v2") { return (.sd2, "modelspec.architecture=\(architecture)") }
            if architecture.hasPrefix("stable-diffusion-v1") { return (.sd1, "modelspec.architecture=\(architecture)") }
        }
        if naming == .sgm || naming == .mixed { return (.sdxl, "SGM layer names (kohya's SDXL naming)") }
        if file.tensors.contains(where: { $0.name.hasPrefix("lora_te2_") }) { return (.sdxl, "second text encoder (lora_te2_)") }
        if unetLayers.count == 722 { return (.sdxl, "722 UNet layers (SDXL attention)") }
        // attn2's key projection reads the text embedding: 768 wide on SD1, 1024 on SD2, 2048 on SDXL.
        if let width = downShapes.first(where: { $0.key.hasSuffix("attn2_to_k") })?.value.dropFirst().first {
            switch width {
            case 768: return (.sd1, "cross-attention width 768")
            case 1024: return (.sd2, "cross-attention width 1024")
            case 2048: return (.sdxl, "cross-attention width 2048")
            default: break
            }
        }
        if let projection = downShapes.first(where: { $0.key.hasSuffix("proj_in") })?.value {
            if projection.count == 4 { return (.sd1, "proj_in is a 1×1 convolution (4-D)") }
            if projection.count == 2 {
                // SD2 keeps attention in the first down block; SDXL has none there.
                let firstBlockAttention = unetLayers.contains { $0.hasPrefix("down_blocks_0_attentions_") }
                return firstBlockAttention
                    ? (.sd2, "proj_in is Linear (2-D) with attention in down_blocks_0")
                    : (.sdxl, "proj_in is Linear (2-D) without attention in down_blocks_0")
            }
        }
        return (nil, "no metadata or layer shape tells the family")
    }

    /// Concepts from our `membrane.concepts` (a JSON list of names, or of objects with a `target` or `name`),
    /// else from the research code's `prompts` (targets joined with ",").
    static func concepts(metadata: [String: String]) -> ([String], String?) {
        if let raw = metadata["membrane.concepts"], let list = (try? JSONParser.parse(raw.utf8))?.arrayValue {
            let names = list.compactMap { $0.stringValue ?? $0["target"]?.stringValue ?? $0["name"]?.stringValue }
            return (names, "membrane.concepts")
        }
        if let prompts = metadata["prompts"] {
            let names = prompts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return (names, "prompts")
        }
        return ([], nil)
    }
}
