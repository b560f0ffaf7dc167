import Foundation

/// The safetensors files holding one component of a diffusers folder (`unet/`, `vae/`, `text_encoder/` …),
/// chosen by diffusers' own file names:
///
/// - one file, `<stem>.safetensors`, or shards listed by `<stem>.safetensors.index.json` (`weight_map`:
///   tensor name → shard file), as `save_pretrained(max_shard_size=…)` writes them;
/// - a precision variant, `<stem>.<variant>.safetensors` or `<stem>.safetensors.index.<variant>.json` with shards
///   `<stem>.<variant>-0000k-of-0000n.safetensors` (`save_pretrained(variant="fp16")`).
///
/// Which one is read (as diffusers' `from_pretrained(variant=…)`, plus one convenience):
/// - with a variant asked for: that variant where the component has it, its full-precision weights otherwise
///   (diffusers loads such a mixture too; the load report names each component's files);
/// - without: the full-precision weights; when a component has none, its only variant (a folder downloaded in
///   fp16 alone); several variants and no full precision is an error asking for a choice.
/// fp16 and bf16 tensors are widened to fp32 exactly when read.
public struct ComponentWeights: Sendable {
    /// The component folder's name (`unet`).
    public let component: String
    /// The weight files' name stem (`diffusion_pytorch_model`, `model`).
    public let stem: String
    /// The precision variant read, nil for full precision.
    public let variant: String?
    /// The shard index read, nil for one file.
    public let indexFileName: String?
    /// The files, in the order the index names them.
    public let files: [SafetensorsFile]

    /// File names relative to the component folder, for reports.
    public var fileNames: [String] { files.map { URL(fileURLWithPath: $0.path).lastPathComponent } }

    /// The variants `folder` has files for (`fp16`, `bf16` …), sorted.
    public static func variants(in folder: URL, stem: String) -> [String] {
        Set(fileNames(in: folder).compactMap { parse($0, stem: stem)?.variant }).sorted()
    }

    /// Opens the weights of the component in `folder` whose files are named `<stem>…` (`diffusion_pytorch_model`
    /// for diffusers models, `model` for transformers ones).
    public static func open(folder: URL, stem: String, variant: String?) throws -> ComponentWeights {
        let names = fileNames(in: folder)
        let component = folder.lastPathComponent
        func candidates(_ variant: String?) -> (single: String, index: [String]) {
            guard let variant else { return ("\(stem).safetensors", ["\(stem).safetensors.index.json"]) }
            // The second index name is diffusers' legacy spelling, which it still reads.
            return ("\(stem).\(variant).safetensors",
                    ["\(stem).safetensors.index.\(variant).json", "\(stem).safetensors.\(variant).index.json"])
        }
        func openChoice(_ choice: String?) throws -> ComponentWeights? {
            let (single, indexes) = candidates(choice)
            if names.contains(single) {
                return ComponentWeights(component: component, stem: stem, variant: choice, indexFileName: nil,
                                        files: [try WeightFile.open(folder.appendingPathComponent(single))])
            }
            guard let index = indexes.first(where: names.contains) else { return nil }
            return ComponentWeights(component: component, stem: stem, variant: choice, indexFileName: index,
                                    files: try openShards(folder: folder, index: index))
        }
        if let variant, let chosen = try openChoice(variant) { return chosen }
        if let chosen = try openChoice(nil) { return chosen }
        let available = variants(in: folder, stem: stem)
        if variant == nil, available.count == 1, let chosen = try openChoice(available[0]) { return chosen }
        if variant == nil, available.count > 1 {
            throw WeightsError.ambiguousVariant(folder: folder.path, expected: "\(stem).safetensors", variants: available)
        }
        let pickles = names.filter { WeightFile.pickleExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
        throw WeightsError.noWeights(folder: folder.path, expected: candidates(variant).single, pickles: pickles)
    }

    /// The shards an index lists, each checked against the index: every file present, every tensor where
    /// `weight_map` puts it, no tensor in two shards.
    static func openShards(folder: URL, index: String) throws -> [SafetensorsFile] {
        let indexURL = folder.appendingPathComponent(index)
        guard let weightMap = try JSONValue(contentsOf: indexURL)["weight_map"]?.members else {
            throw WeightsError.invalidConfig(file: indexURL.path, problem: "expected a \"weight_map\" object (tensor name → shard file)")
        }
        var shardNames: [String] = []
        for entry in weightMap {
            guard let shard = entry.value.stringValue else {
                throw WeightsError.invalidConfig(file: indexURL.path, problem: "weight_map: \"\(entry.key)\" must name a file")
            }
            guard !shard.contains("/"), shard.hasSuffix(".safetensors") else {
                throw WeightsError.invalidConfig(file: indexURL.path,
                                                 problem: "weight_map: \"\(shard)\" is not a .safetensors file in the same folder")
            }
            if !shardNames.contains(shard) { shardNames.append(shard) }
        }
        var files: [String: SafetensorsFile] = [:]
        var owner: [String: String] = [:]
        for shard in shardNames {
            let url = folder.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw WeightsError.invalidConfig(file: indexURL.path, problem: "weight_map names \(shard), which is not in the folder")
            }
            let file = try WeightFile.open(url)
            for name in file.tensorNames {
                if let other = owner.updateValue(shard, forKey: name) {
                    throw WeightsError.invalidConfig(file: indexURL.path, problem: "tensor \"\(name)\" is in both \(other) and \(shard)")
                }
            }
            files[shard] = file
        }
        for entry in weightMap where owner[entry.key] != entry.value.stringValue {
            throw WeightsError.invalidConfig(file: indexURL.path,
                                             problem: "weight_map puts \"\(entry.key)\" in \(entry.value.stringValue ?? "?"), which has no such tensor")
        }
        return shardNames.compactMap { files[$0] }
    }

    /// A weights file name's variant and shard: `model.fp16-00001-of-00002.safetensors` → ("fp16", shard),
    /// `diffusion_pytorch_model.safetensors.index.bf16.json` → ("bf16", index). Nil for other files.
    static func parse(_ fileName: String, stem: String) -> (variant: String?, isShardOrIndex: Bool)? {
        if fileName == "\(stem).safetensors" { return (nil, false) }
        if fileName == "\(stem).safetensors.index.json" { return (nil, true) }
        for (prefix, suffix) in [("\(stem).safetensors.index.", ".json"), ("\(stem).safetensors.", ".index.json")]
        where fileName.hasPrefix(prefix) && fileName.hasSuffix(suffix) && fileName.count > prefix.count + suffix.count {
            let variant = String(fileName.dropFirst(prefix.count).dropLast(suffix.count))
            return variant.contains(".") ? nil : (variant, true)
        }
        guard fileName.hasSuffix(".safetensors") else { return nil }
        let base = String(fileName.dropLast(".safetensors".count))
        if let shard = base.dropPrefix(stem + "-"), isShardNumber(shard) { return (nil, true) }
        guard let rest = base.dropPrefix(stem + "."), !rest.isEmpty, !rest.contains(".") else { return nil }
        if let dash = rest.firstIndex(of: "-"), isShardNumber(String(rest[rest.index(after: dash)...])) {
            return (String(rest[..<dash]), true)
        }
        return (rest, false)
    }

    /// "00001-of-00002".
    private static func isShardNumber(_ text: String) -> Bool {
        let parts = text.components(separatedBy: "-of-")
        return parts.count == 2 && parts.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isASCIIDigit) }
    }

    private static func fileNames(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
