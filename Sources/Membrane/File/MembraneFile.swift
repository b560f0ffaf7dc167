import Diffusion
import Foundation

/// One adapted layer: ΔW = (α / r) · U · D, with D (`down`, r × in) and U (`up`, out × r) row-major.
public struct MembraneLayer: Sendable, Equatable {
    public var rank: Int
    public var inFeatures: Int
    public var outFeatures: Int
    public var down: [Float]
    public var up: [Float]
    public var alpha: Float

    public init(rank: Int, inFeatures: Int, outFeatures: Int, down: [Float], up: [Float], alpha: Float) {
        precondition(down.count == rank * inFeatures && up.count == outFeatures * rank, "factor sizes do not match the rank")
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.down = down
        self.up = up
        self.alpha = alpha
    }

    /// α / r, the factor every tool applies to U · D.
    public var scale: Float { alpha / Float(rank) }
}

/// A concept the membrane erases, and the rank indices (the same in every layer) that carry it, so the runtime can
/// gate each concept of a merged membrane on its own.
public struct MembraneConcept: Sendable, Equatable {
    public var name: String
    public var ranks: Range<Int>
    /// How facilitated transport gates the concept (its training config's `min_gate` and `gate_threshold`). Kept
    /// with the concept, not only in the training config, so a merged file — which records no single training
    /// config — still keeps a nudity membrane always on, or a threshold off a colour's neighbours.
    public var minGate: Float?
    public var gateThreshold: Float?

    public init(name: String, ranks: Range<Int>, minGate: Float? = nil, gateThreshold: Float? = nil) {
        self.name = name
        self.ranks = ranks
        self.minGate = minGate
        self.gateThreshold = gateThreshold
    }
}

/// A membrane in memory, and its file: a kohya-style LoRA safetensors (FORMATS.md) that every tool loads, with our
/// own JSON metadata (concepts and their rank slices, family, training config) that only membrane reads.
public struct MembraneFile: Sendable {
    public static let formatVersion = 1

    public var family: ModelFamily
    /// Layers by diffusers module path.
    public var layers: [String: MembraneLayer]
    public var concepts: [MembraneConcept]
    /// The training config, as JSON text, when the file records one.
    public var trainingConfig: String?
    /// `ss_output_name` / `modelspec.title`: the name A1111 users type in `<lora:NAME:1>`.
    public var title: String
    /// Titles of the membranes a merge was made from.
    public var mergedFrom: [String]

    public init(family: ModelFamily, layers: [String: MembraneLayer], concepts: [MembraneConcept],
                trainingConfig: String? = nil, title: String, mergedFrom: [String] = []) {
        self.family = family
        self.layers = layers
        self.concepts = concepts
        self.trainingConfig = trainingConfig
        self.title = title
        self.mergedFrom = mergedFrom
    }

    /// The largest layer rank (the rank concept slices index into).
    public var rank: Int { layers.values.map(\.rank).max() ?? 0 }

    // MARK: Reading

    /// Reads several files concurrently (decoding and checking a hundred SDXL membranes is a gigabyte of fresh
    /// memory to fault in); the error of the first failing file in the given order is thrown.
    public static func read(_ urls: [URL], layout: MembraneLayout? = nil) throws -> [MembraneFile] {
        try urls.concurrentMap { try read($0, layout: layout) }
    }

    /// Reads a membrane file, or a kohya/research-code LoRA of the same shape, checking every tensor against
    /// `layout` (default: the layout bundled for the family the file declares).
    public static func read(_ url: URL, layout: MembraneLayout? = nil) throws -> MembraneFile {
        let file = try WeightFile.open(url)
        let path = file.path
        guard let summary = try MembraneFileSummary.detect(in: file) else { throw MembraneFileError.notAMembrane(file: path) }
        guard let family = summary.family else { throw MembraneFileError.unknownFamily(file: path) }
        guard let chosen = try layout ?? MembraneLayout.bundled(for: family) else {
            throw MembraneFileError.needsUNetConfig(file: path, family: family)
        }
        do {
            return try read(file, family: family, layout: chosen)
        } catch let error as MembraneFileError {
            // Names or shapes of another family's UNet say more than "unknown tensor".
            switch error {
            case .unknownTensor, .misshaped:
                for other in [ModelFamily.sd1, .sd2, .sdxl] where other != family && !(other.isSDXLArchitecture && family.isSDXLArchitecture) {
                    if let otherLayout = try? MembraneLayout.bundled(for: other), (try? read(file, family: other, layout: otherLayout)) != nil {
                        throw MembraneFileError.wrongFamily(file: path, declared: family, evidence: summary.familyEvidence, actual: other)
                    }
                }
                throw layout == nil ? MembraneFileError.notTheBundledUNet(error, family: family) : error
            default:
                throw error
            }
        }
    }

    private static func read(_ file: SafetensorsFile, family: ModelFamily, layout: MembraneLayout) throws -> MembraneFile {
        let path = file.path
        struct Tensors { var down: TensorInfo?, up: TensorInfo?, alpha: TensorInfo?, name = "" }
        var found: [String: Tensors] = [:]
        for tensor in file.tensors {
            let name = tensor.name
            guard let (layerName, part) = Self.split(name) else {
                throw MembraneFileError.unknownTensor(file: path, tensor: name, reason: "not a lora_down.weight, lora_up.weight or alpha tensor")
            }
            guard layerName.hasPrefix(LoRANaming.unetPrefix) else {
                throw MembraneFileError.unknownTensor(file: path, tensor: name, reason: "text-encoder layers are not part of a membrane")
            }
            guard let module = layout.index.module(forKohyaName: layerName) else {
                throw MembraneFileError.unknownTensor(file: path, tensor: name, reason: "no transformer layer of a \(family.rawValue) UNet has this name")
            }
            var entry = found[module, default: Tensors()]
            if !entry.name.isEmpty && entry.name != layerName {
                throw MembraneFileError.unknownTensor(file: path, tensor: name, reason: "layer \(module) is already named \(entry.name)")
            }
            entry.name = layerName
            switch part {
            case .down: entry.down = tensor
            case .up: entry.up = tensor
            case .alpha: entry.alpha = tensor
            }
            found[module] = entry
        }

        var layers: [String: MembraneLayer] = [:]
        for (modulePath, tensors) in found {
            guard let module = layout.module(modulePath) else { continue }
            guard let down = tensors.down else { throw MembraneFileError.unpaired(file: path, layer: tensors.name, missing: "lora_down.weight") }
            guard let up = tensors.up else { throw MembraneFileError.unpaired(file: path, layer: tensors.name, missing: "lora_up.weight") }
            let trailing = module.isConvolution ? [1, 1] : []
            let kind = module.isConvolution ? "1×1 convolution" : "linear layer"
            guard down.shape.count == 2 + trailing.count, Array(down.shape.dropFirst(2)) == trailing,
                  down.shape[0] > 0, down.shape[1] == module.inFeatures else {
                throw MembraneFileError.misshaped(file: path, tensor: down.name, shape: down.shape,
                                                  expected: "[r, \(module.inFeatures)\(module.isConvolution ? ", 1, 1" : "")] for this \(kind)")
            }
            let rank = down.shape[0]
            guard up.shape == [module.outFeatures, rank] + trailing else {
                throw MembraneFileError.misshaped(file: path, tensor: up.name, shape: up.shape,
                                                  expected: "\([module.outFeatures, rank] + trailing) (rank \(rank) from lora_down) for this \(kind)")
            }
            var alpha = Float(rank)
            if let alphaTensor = tensors.alpha {
                guard alphaTensor.elementCount == 1, alphaTensor.shape.count <= 1 else {
                    throw MembraneFileError.misshaped(file: path, tensor: alphaTensor.name, shape: alphaTensor.shape, expected: "a scalar ([])")
                }
                alpha = try file.floats(alphaTensor.name)[0]
            }
            let downValues = try file.floats(down.name), upValues = try file.floats(up.name)
            for (tensor, values) in [(down.name, downValues), (up.name, upValues), (tensors.name + ".alpha", [alpha])]
            where !values.allSatisfy(\.isFinite) {
                throw MembraneFileError.nonFinite(file: path, tensor: tensor)
            }
            layers[modulePath] = MembraneLayer(rank: rank, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                                               down: downValues, up: upValues, alpha: alpha)
        }
        let rank = layers.values.map(\.rank).max() ?? 0
        let concepts = try Self.concepts(metadata: file.metadata, rank: rank, path: path)
            .map { Self.withRecordedGating($0, trainingConfig: file.metadata["membrane.training_config"]) }
        let title = file.metadata["ss_output_name"] ?? file.metadata["modelspec.title"]
            ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var mergedFrom: [String] = []
        if let raw = file.metadata["modelspec.merged_from"] {
            mergedFrom = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return MembraneFile(family: family, layers: layers, concepts: concepts,
                            trainingConfig: file.metadata["membrane.training_config"], title: title, mergedFrom: mergedFrom)
    }

    enum TensorPart { case down, up, alpha }

    static func split(_ name: String) -> (String, TensorPart)? {
        for (suffix, part) in [(".lora_down.weight", TensorPart.down), (".lora_up.weight", .up), (".alpha", .alpha)] where name.hasSuffix(suffix) {
            return (String(name.dropLast(suffix.count)), part)
        }
        return nil
    }

    /// Concepts with their slices from `membrane.concepts` (objects `{"name", "ranks": [start, end]}`, with
    /// `min_gate` and `gate_threshold` when set); names without slices (our plain lists, the research code's
    /// `prompts`) own the whole rank.
    static func concepts(metadata: [String: String], rank: Int, path: String) throws -> [MembraneConcept] {
        if let raw = metadata["membrane.concepts"], let list = (try? JSONParser.parse(raw.utf8))?.arrayValue {
            return try list.map { item in
                func invalid(_ problem: String) -> MembraneFileError {
                    .invalidMetadata(file: path, key: "membrane.concepts", problem: problem)
                }
                guard let name = item.stringValue ?? item["name"]?.stringValue else {
                    throw invalid("expected a list of names or of {\"name\", \"ranks\"} objects")
                }
                var concept = MembraneConcept(name: name, ranks: 0..<rank)
                if let ranks = item["ranks"]?.arrayValue {
                    guard ranks.count == 2, let start = ranks[0].nonNegativeIntValue, let end = ranks[1].nonNegativeIntValue,
                          start < end, end <= rank else {
                        throw invalid("ranks of \"\(name)\" must be [start, end] with 0 ≤ start < end ≤ \(rank)")
                    }
                    concept.ranks = start..<end
                }
                for (key, setting) in [("min_gate", \MembraneConcept.minGate), ("gate_threshold", \.gateThreshold)] {
                    guard let value = item[key] else { continue }
                    guard let number = value.doubleValue, (0...1).contains(number) else {
                        throw invalid("\(key) of \"\(name)\" must be a number between 0 and 1")
                    }
                    concept[keyPath: setting] = Float(number)
                }
                return concept
            }
        }
        return MembraneFileSummary.concepts(metadata: metadata).0.map { MembraneConcept(name: $0, ranks: 0..<rank) }
    }

    /// `concept` with the `min_gate` and `gate_threshold` its entry in the recorded training config sets (JSON
    /// `concepts: [{target, …}]`), where `membrane.concepts` gave none: files written before the concepts carried
    /// them.
    static func withRecordedGating(_ concept: MembraneConcept, trainingConfig: String?) -> MembraneConcept {
        guard let trainingConfig, let config = try? JSONParser.parse(trainingConfig.utf8),
              let entry = config["concepts"]?.arrayValue?.first(where: { $0["target"]?.stringValue == concept.name })
        else { return concept }
        func setting(_ key: String) -> Float? {
            entry[key]?.doubleValue.flatMap { (0...1).contains($0) ? Float($0) : nil }
        }
        var recorded = concept
        recorded.minGate = concept.minGate ?? setting("min_gate")
        recorded.gateThreshold = concept.gateThreshold ?? setting("gate_threshold")
        return recorded
    }

    // MARK: Writing

    /// The tensors of the file in kohya naming: SGM paths for the SDXL family, diffusers paths otherwise.
    public func kohyaEntries(layout: MembraneLayout) throws -> [SafetensorsEntry] {
        var entries: [SafetensorsEntry] = []
        for module in layout.modules {
            guard let layer = layers[module.path] else { continue }
            guard let name = layout.kohyaName(module.path, sgmPaths: family.isSDXLArchitecture) else {
                throw MembraneFileError.invalidMerge(problem: "no kohya name for \(module.path)")
            }
            let trailing = module.isConvolution ? [1, 1] : []
            entries.append(SafetensorsEntry(name: name + ".lora_down.weight", float32: layer.down,
                                            shape: [layer.rank, layer.inFeatures] + trailing))
            entries.append(SafetensorsEntry(name: name + ".lora_up.weight", float32: layer.up,
                                            shape: [layer.outFeatures, layer.rank] + trailing))
            entries.append(SafetensorsEntry(name: name + ".alpha", float32: [layer.alpha], shape: []))
        }
        let unknown = Set(layers.keys).subtracting(layout.modules.map(\.path))
        if let first = unknown.sorted().first {
            throw MembraneFileError.invalidMerge(problem: "layer \(first) is not a transformer layer of the target UNet")
        }
        return entries
    }

    /// Writes the file atomically (kohya tensors and the metadata of FORMATS.md).
    public func write(to url: URL, layout: MembraneLayout, date: Date = Date()) throws {
        let entries = try kohyaEntries(layout: layout)
        var hasher = SHA256()
        for entry in SafetensorsWriter.dataOrder(entries) { entry.withUnsafeBytes { hasher.update($0) } }
        let digest = SHA256.hex(digest: hasher.finalize())
        try SafetensorsWriter.write(entries, metadata: metadata(sha256: digest, date: date), to: url)
    }

    /// The header metadata: kohya's `ss_*`, SAI ModelSpec, the data hash, and our `membrane.*` JSON keys.
    public func metadata(sha256 digest: String, date: Date) -> [String: String] {
        let alphas = Set(layers.values.map(\.alpha))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var metadata: [String: String] = [
            "ss_network_module": "networks.lora",
            "ss_network_dim": String(rank),
            "ss_network_alpha": alphas.count == 1 ? Self.decimal(alphas.first!) : "Dynamic",
            "ss_base_model_version": family.kohyaBaseModelVersion,
            "ss_v2": family == .sd2 ? "True" : "False",
            "ss_output_name": title,
            "sshs_model_hash": digest,
            "modelspec.hash_sha256": "0x" + digest,
            "modelspec.sai_model_spec": "1.0.1",
            "modelspec.architecture": family.modelSpecArchitecture,
            "modelspec.implementation": family.isSDXLArchitecture ? "https://github.com/Stability-AI/generative-models" : "diffusers",
            "modelspec.title": title,
            "modelspec.resolution": family.modelSpecResolution,
            "modelspec.date": formatter.string(from: date),
            "modelspec.usage_hint": "Concept Semi-Permeable Membrane (erases: \(concepts.map(\.name).joined(separator: ", "))). "
                + "Outside spm-workbench it is an ordinary LoRA: per-concept gates (Facilitated Transport) are lost, use weight 1.",
            "membrane.format_version": String(Self.formatVersion),
            "membrane.family": JSONValue.string(family.rawValue).serialized(),
            "membrane.concepts": JSONValue.array(concepts.map { concept in
                var members = [JSONMember("name", .string(concept.name)),
                               JSONMember("ranks", .array([.integer(concept.ranks.lowerBound), .integer(concept.ranks.upperBound)]))]
                // A Float's shortest decimal ("0.1", not 0.10000000149011612): what the config said.
                if let minGate = concept.minGate { members.append(JSONMember("min_gate", .number("\(minGate)"))) }
                if let threshold = concept.gateThreshold { members.append(JSONMember("gate_threshold", .number("\(threshold)"))) }
                return .object(members)
            }).serialized(),
        ]
        if !mergedFrom.isEmpty { metadata["modelspec.merged_from"] = mergedFrom.joined(separator: ", ") }
        if let trainingConfig { metadata["membrane.training_config"] = trainingConfig }
        return metadata
    }

    /// `1.0` rather than `1` for whole numbers, as kohya writes alphas.
    static func decimal(_ value: Float) -> String {
        value == value.rounded() && abs(value) < 1e7 ? String(format: "%.1f", value) : "\(value)"
    }
}

extension ModelFamily {
    /// SAI ModelSpec's architecture for a LoRA of this family.
    public var modelSpecArchitecture: String {
        switch self {
        case .sd1, .testbed: return "stable-diffusion-v1/lora"
        case .sd2: return "stable-diffusion-v2-512/lora"
        case .sdxl, .pony, .illustrious: return "stable-diffusion-xl-v1-base/lora"
        }
    }

    var modelSpecResolution: String {
        switch self {
        case .sd1, .sd2: return "512x512"
        case .sdxl, .pony, .illustrious: return "1024x1024"
        case .testbed: return "64x64"
        }
    }
}
