import Foundation

/// A tensor a model asked for that the files cannot give: one line naming the key (and both shapes).
public enum LoadError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(source: String, key: String, expectedShape: [Int])
    case misShaped(source: String, key: String, expectedShape: [Int], foundShape: [Int])
    case notAFloatTensor(source: String, key: String, dtype: String)

    public var description: String {
        switch self {
        case .missing(let source, let key, let shape):
            return "\(source): tensor \"\(key)\" is missing (expected shape \(shape))"
        case .misShaped(let source, let key, let expected, let found):
            return "\(source): tensor \"\(key)\" has shape \(found), expected \(expected)"
        case .notAFloatTensor(let source, let key, let dtype):
            return "\(source): tensor \"\(key)\" is \(dtype), expected a floating-point type"
        }
    }
}

/// The tensors of one model component by diffusers key, from wherever they are stored: a diffusers component
/// (one file or shards, keys as they are) or a single-file checkpoint (keys through `SingleFileKeyMap`, with its
/// transforms). Models build themselves by asking it for each parameter with the shape their configuration
/// implies; it records what it handed out, so every load ends in a report (`report(component:)`).
///
/// A reader made with `checkingOnly` reads headers only: it hands out zero-filled views (no element is decoded
/// or allocated, so a full-size model "loads" in moments) and records every missing or mis-shaped tensor
/// instead of throwing at the first — what `inspect` shows.
public final class ParameterReader: @unchecked Sendable {
    private struct Source {
        var file: SafetensorsFile
        var storedKey: String
        var transform: SingleFileKeyMap.Transform
    }

    private let sources: [String: Source]
    /// Set for a reader that makes up seeded random parameters instead of reading files.
    private let randomSeed: UInt64?
    /// Set for a reader over tensors already in memory (a model being trained, a test's parameters).
    private let tensors: [String: Tensor]?
    private let checkingOnly: Bool
    private let description: String
    private let fileNames: [String]
    private let lock = NSLock()
    private var used: Set<String> = []
    private var elementsRead = 0
    private var tensorsHandedOut = 0
    private var problems: [LoadError] = []

    /// A diffusers component's weights (`unet/diffusion_pytorch_model.safetensors`, `text_encoder/model.safetensors`…).
    public convenience init(componentFile file: SafetensorsFile, checkingOnly: Bool = false) {
        self.init(componentFiles: [file], checkingOnly: checkingOnly)
    }

    /// A diffusers component's weights in one file or several shards (tensor names are unique across them).
    /// transformers 5 saves `CLIPTextModel` without the `text_model.` prefix; such keys are read as if they had it.
    public init(componentFiles files: [SafetensorsFile], checkingOnly: Bool = false) {
        var sources: [String: Source] = [:]
        for file in files {
            for name in file.tensorNames {
                sources[name] = Source(file: file, storedKey: name, transform: .identity)
                let isBareCLIPKey = ["embeddings.", "encoder.layers.", "final_layer_norm."].contains(where: name.hasPrefix)
                if isBareCLIPKey { sources["text_model." + name] = sources[name] }
            }
        }
        self.sources = sources
        randomSeed = nil
        tensors = nil
        self.checkingOnly = checkingOnly
        fileNames = files.map(\.path)
        description = files.count == 1 ? files[0].path
            : "\(URL(fileURLWithPath: files.first?.path ?? "").deletingLastPathComponent().path) (\(files.count) shards)"
    }

    /// One component of a single-file (LDM/SGM) checkpoint.
    public convenience init(singleFile file: SafetensorsFile, component: SingleFileKeyMap.Component, vaeLevels: Int = 4,
                            checkingOnly: Bool = false) {
        self.init(renamedFile: file, description: "\(file.path) (\(component.rawValue))", checkingOnly: checkingOnly) { name in
            guard case .tensors(let targets) = SingleFileKeyMap.map(name, vaeLevels: vaeLevels) else { return [] }
            return targets.filter { $0.component == component }.map { ($0.key, $0.transform) }
        }
    }

    /// A whole OpenCLIP model file (`open_clip_model.safetensors`) read as transformers' `CLIPModel`.
    public convenience init(openCLIPFile file: SafetensorsFile, checkingOnly: Bool = false) {
        self.init(renamedFile: file, description: file.path, checkingOnly: checkingOnly,
                  targets: SingleFileKeyMap.clipModelKeys(fromOpenCLIP:))
    }

    /// A file stored in another naming: `targets(stored name)` are the keys (and transforms) it feeds.
    private init(renamedFile file: SafetensorsFile, description: String, checkingOnly: Bool,
                 targets: (String) -> [(key: String, transform: SingleFileKeyMap.Transform)]) {
        var sources: [String: Source] = [:]
        for name in file.tensorNames {
            for target in targets(name) {
                sources[target.key] = Source(file: file, storedKey: name, transform: target.transform)
            }
        }
        self.sources = sources
        randomSeed = nil
        tensors = nil
        self.checkingOnly = checkingOnly
        fileNames = [file.path]
        self.description = description
    }

    /// Seeded random parameters of whatever shape a model asks for: full-size models from their real configs
    /// with no weights on disk, for benchmarks and memory checks. Values are uniform in ±0.02 (keeping
    /// activations finite); each tensor depends only on the seed and its key.
    public init(randomWithSeed seed: UInt64) {
        sources = [:]
        randomSeed = seed
        tensors = nil
        checkingOnly = false
        fileNames = []
        description = "random parameters (seed \(seed))"
    }

    /// Parameters given by key: a model rebuilt from updated weights during training, or trainable leaves
    /// (`requiringGradient()`) whose gradients a test wants. Tensors are handed out as they are, not copied.
    public init(tensors: [String: Tensor], description: String) {
        sources = [:]
        randomSeed = nil
        self.tensors = tensors
        checkingOnly = false
        fileNames = []
        self.description = description
    }

    /// The precision linear and convolution layers keep their weights in (`OneDNNWeightCache.layerWeight`):
    /// bf16 halves a frozen model's weight memory, and its layers then always run at bf16. Set before the
    /// model is built.
    public var layerWeightPrecision = ComputePrecision.fp32

    /// Parameter `key` (diffusers naming), which must have `shape` once transformed.
    public func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        if let randomSeed {
            lock.withLock { elementsRead += shape.reduce(1, *) }
            var state = key.utf8.reduce(randomSeed ^ 0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
            return Tensor(shape: shape) { values in
                for index in values.indices {
                    // SplitMix64, top 24 bits → uniform in [-0.02, 0.02).
                    state &+= 0x9E37_79B9_7F4A_7C15
                    var z = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
                    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                    values[index] = (Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) - 0.5) * 0.04
                }
            }
        }
        if let tensors {
            guard let tensor = tensors[key] else {
                throw LoadError.missing(source: description, key: key, expectedShape: shape)
            }
            guard tensor.shape == shape else {
                throw LoadError.misShaped(source: description, key: key, expectedShape: shape, foundShape: tensor.shape)
            }
            lock.withLock {
                _ = used.insert(key)
                tensorsHandedOut += 1
                elementsRead += tensor.elementCount
            }
            return tensor
        }
        let source: Source, info: TensorInfo
        do {
            (source, info) = try locate(key, shape: shape)
        } catch let problem as LoadError where checkingOnly {
            lock.withLock {
                problems.append(problem)
                // A stored tensor of the wrong shape is reported as mis-shaped, not also as unused.
                if let stored = sources[key]?.storedKey { used.insert(stored) }
            }
            return .placeholder(shape)
        }
        lock.withLock {
            _ = used.insert(source.storedKey)
            tensorsHandedOut += 1
            elementsRead += shape.reduce(1, *)  // counted once the parameter is really handed out
        }
        if checkingOnly { return .placeholder(shape) }
        let storedShape = info.shape
        let raw = try source.file.rawBytes(source.storedKey)
        let stored = Tensor(shape: storedShape) { info.dtype.decode(raw, into: $0) }
        switch source.transform {
        case .identity, .squeezeConv1x1:
            return stored.reshaped(shape)
        case .splitRows(let part, let count):
            let rows = storedShape[0] / count
            return stored.narrowed(axis: 0, start: part * rows, length: rows).contiguous().reshaped(shape)
        case .transpose:
            return stored.transposed().contiguous().reshaped(shape)
        }
    }

    /// Where parameter `key` is stored, checked to be a float tensor of `shape` once transformed.
    private func locate(_ key: String, shape: [Int]) throws -> (Source, TensorInfo) {
        guard let source = sources[key] else {
            throw LoadError.missing(source: description, key: key, expectedShape: shape)
        }
        let info = try source.file.info(source.storedKey)
        guard [.f32, .f16, .bf16, .f64].contains(info.dtype) else {
            throw LoadError.notAFloatTensor(source: description, key: source.storedKey, dtype: info.dtype.rawValue)
        }
        let storedShape = info.shape
        let transformedShape: [Int]
        switch source.transform {
        case .identity: transformedShape = storedShape
        case .squeezeConv1x1:
            transformedShape = storedShape.count == 4 && storedShape[2] == 1 && storedShape[3] == 1
                ? Array(storedShape.prefix(2)) : storedShape
        case .splitRows(_, let count):
            transformedShape = storedShape.isEmpty || storedShape[0] % count != 0
                ? storedShape : [storedShape[0] / count] + storedShape.dropFirst()
        case .transpose:
            transformedShape = storedShape.count == 2 ? storedShape.reversed() : storedShape
        }
        guard transformedShape == shape else {
            throw LoadError.misShaped(source: description, key: key, expectedShape: shape, foundShape: transformedShape)
        }
        return (source, info)
    }

    /// What this reader did so far, as one component of a load report.
    public func report(component: String, variant: String? = nil) -> LoadReport.Component {
        lock.withLock {
            LoadReport.Component(
                name: component, files: fileNames, variant: variant, appliedTensors: tensorsHandedOut,
                appliedParameters: elementsRead,
                missing: problems.filter { if case .missing = $0 { return true } else { return false } },
                misShaped: problems.filter { if case .missing = $0 { return false } else { return true } },
                unused: Set(sources.values.map(\.storedKey)).subtracting(used).sorted())
        }
    }

    /// Parameters handed out so far (elements), for load reports and benchmarks.
    public var parameterCount: Int { lock.withLock { elementsRead } }

    /// Stored tensors no parameter asked for so far, for the load report.
    public var unusedStoredKeys: [String] {
        let all = Set(sources.values.map(\.storedKey)).union(tensors?.keys ?? [:].keys)
        return lock.withLock { all.subtracting(used) }.sorted()
    }

    /// A view that prefixes every key with `prefix.`, so a module reads its own parameters by local names.
    public func scoped(_ prefix: String) -> ScopedParameters { ScopedParameters(reader: self, prefix: prefix) }
}

/// Parameters of one module: `ParameterReader` keys under a prefix.
public struct ScopedParameters: Sendable {
    let reader: ParameterReader
    let prefix: String

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try reader.tensor(prefix.isEmpty ? name : prefix + "." + name, shape: shape)
    }

    /// See `ParameterReader.layerWeightPrecision`.
    public var layerWeightPrecision: ComputePrecision { reader.layerWeightPrecision }

    public func scoped(_ name: String) -> ScopedParameters {
        ScopedParameters(reader: reader, prefix: prefix.isEmpty ? name : prefix + "." + name)
    }
}
