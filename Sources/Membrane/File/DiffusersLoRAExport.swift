import Diffusion
import Foundation

/// A membrane in diffusers' native LoRA layout (what `save_lora_weights` writes): PEFT keys
/// `unet.<module path>.lora_A.weight` (down) and `.lora_B.weight` (up), header `format=pt` and
/// `lora_adapter_metadata` (the PEFT LoraConfig, keys prefixed `unet.`). PEFT applies one `lora_alpha / r` per
/// layer, so each layer's own α/r is folded into lora_B and `lora_alpha` = r: ΔW is unchanged.
public enum DiffusersLoRAExport {
    public static func entries(_ membrane: MembraneFile, layout: MembraneLayout) throws -> [SafetensorsEntry] {
        var entries: [SafetensorsEntry] = []
        for module in layout.modules {
            guard let layer = membrane.layers[module.path] else { continue }
            let trailing = module.isConvolution ? [1, 1] : []
            let scale = layer.scale
            entries.append(SafetensorsEntry(name: "unet.\(module.path).lora_A.weight", float32: layer.down,
                                            shape: [layer.rank, layer.inFeatures] + trailing))
            entries.append(SafetensorsEntry(name: "unet.\(module.path).lora_B.weight", float32: layer.up.map { $0 * scale },
                                            shape: [layer.outFeatures, layer.rank] + trailing))
        }
        if let unknown = Set(membrane.layers.keys).subtracting(layout.modules.map(\.path)).sorted().first {
            throw MembraneFileError.invalidMerge(problem: "layer \(unknown) is not a transformer layer of the target UNet")
        }
        return entries
    }

    /// `lora_adapter_metadata`: r, lora_alpha = r, the target modules, and per-module patterns where ranks differ.
    public static func adapterMetadata(_ membrane: MembraneFile) -> String {
        let rank = membrane.rank
        let paths = membrane.layers.keys.sorted()
        let odd = paths.filter { membrane.layers[$0]!.rank != rank }
        var members = [
            JSONMember("unet.r", .integer(rank)),
            JSONMember("unet.lora_alpha", .integer(rank)),
            JSONMember("unet.target_modules", .array(paths.map { .string($0) })),
        ]
        if !odd.isEmpty {
            let pattern = JSONValue.object(odd.map { JSONMember($0, .integer(membrane.layers[$0]!.rank)) })
            members.append(JSONMember("unet.rank_pattern", pattern))
            members.append(JSONMember("unet.alpha_pattern", pattern))
        }
        return JSONValue.object(members).serialized(sortedKeys: true)
    }

    /// Writes the diffusers-native file atomically; our `membrane.*` keys ride along (diffusers ignores them).
    public static func write(_ membrane: MembraneFile, layout: MembraneLayout, to url: URL) throws {
        var metadata = membrane.metadata(sha256: "", date: Date()).filter { $0.key.hasPrefix("membrane.") }
        metadata["format"] = "pt"
        metadata["lora_adapter_metadata"] = adapterMetadata(membrane)
        try SafetensorsWriter.write(try entries(membrane, layout: layout), metadata: metadata, to: url)
    }
}
