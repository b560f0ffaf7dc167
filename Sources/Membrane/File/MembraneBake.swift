import Diffusion
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Baking (METHOD.md §4): membranes folded into a checkpoint's weights, W ← W + Σ_i g_i·ΔW_i, so any tool runs
/// them with no LoRA support at all (and with no gates: the membranes act at fixed strength on every prompt).
///
/// The output keeps the input's layout: a single file stays a single file with the same tensor names, dtypes,
/// shapes and data offsets (only the adapted weights' bytes and the metadata change, every other tensor is copied
/// byte for byte); a diffusers folder stays a folder with every file but the UNet weights copied as they are.
/// The sums are done in fp32 and cast back to the stored dtype, and each layer reports how much of its change
/// survived the cast (a small ΔW on a large fp16 weight can round away).
public enum MembraneBake {
    /// What the cast back to the stored dtype kept of one layer's change.
    public struct LayerResult: Sendable, Equatable {
        /// diffusers module path.
        public var layer: String
        /// The tensor's name in the written file.
        public var tensor: String
        public var dtype: ElementType
        /// Elements whose ΔW is not zero.
        public var affected: Int
        /// Elements whose stored value changed.
        public var survived: Int

        /// A change that rounded away entirely in the stored dtype.
        public var vanished: Bool { affected > 0 && survived == 0 }
        /// The share of nonzero changes that made it into the file (1 when there were none).
        public var survivingShare: Double { affected == 0 ? 1 : Double(survived) / Double(affected) }
    }

    public struct Report: Sendable, Equatable {
        /// Adapted layers, in the order of their tensors in the files.
        public var layers: [LayerResult]
        /// Tensors written with their original bytes.
        public var untouchedTensors: Int
        /// Weight files rewritten (relative to the model).
        public var bakedFiles: [String]
    }

    /// Metadata key recording what was baked into a single file (JSON).
    public static let metadataKey = "membrane.baked"

    /// Writes `model` (a single-file checkpoint or a diffusers folder) with `adapters` folded in at `gates`
    /// (`MembraneAdapters.adapters(for:)` and one gate per slot) to `output`, atomically. `record` (JSON) is kept in
    /// the metadata of each rewritten weight file under `membrane.baked`.
    public static func bake(model: URL, adapters: [String: LowRankAdapter], gates: [Float], record: String,
                            to output: URL) throws -> Report {
        let input = model.standardizedFileURL, target = output.standardizedFileURL
        guard input.resolvingSymlinksInPath().path != target.resolvingSymlinksInPath().path else {
            throw BakeError.outputIsInput(path: output.path)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else {
            throw WeightsError.cannotRead(file: input.path, reason: "no such file or folder")
        }
        for adapter in adapters.values {
            precondition(adapter.gateOfRank.allSatisfy { gates.indices.contains($0) }, "MembraneBake: fewer gates than slots")
        }
        if isDirectory.boolValue {
            return try bakeFolder(input, adapters: adapters, gates: gates, record: record, to: target)
        }
        let file = try WeightFile.open(input)
        // diffusers UNet key → the file's key, through the one LDM/SGM key table.
        var keys: [String: String] = [:]
        for name in file.tensorNames {
            if case .tensors(let targets) = SingleFileKeyMap.map(name), targets.count == 1, targets[0].component == .unet,
               targets[0].transform == .identity {
                keys[targets[0].key] = name
            }
        }
        guard !keys.isEmpty else { throw BakeError.notACheckpoint(file: input.path) }
        var report = Report(layers: [], untouchedTensors: 0, bakedFiles: [input.lastPathComponent])
        try rewrite(file, keyOfLayer: { keys[$0 + ".weight"] }, adapters: adapters, gates: gates, record: record,
                    to: target, report: &report)
        return report
    }

    // MARK: Diffusers folders

    private static func bakeFolder(_ folder: URL, adapters: [String: LowRankAdapter], gates: [Float], record: String,
                                   to output: URL) throws -> Report {
        let manager = FileManager.default
        guard manager.fileExists(atPath: folder.appendingPathComponent("model_index.json").path) else {
            throw WeightsError.notADiffusersFolder(path: folder.path, reason: "no model_index.json")
        }
        guard !manager.fileExists(atPath: output.path) else { throw BakeError.outputExists(path: output.path) }
        let unet = folder.appendingPathComponent("unet")
        let entries = try manager.contentsOfDirectory(atPath: unet.path)
        if entries.contains(where: { $0.hasSuffix(".safetensors.index.json") }) {
            throw BakeError.shardedUNet(folder: unet.path)
        }
        // Every variant the folder holds (fp32, .fp16, .bf16), so whichever a loader picks carries the membranes.
        let weightFiles = entries.filter { $0.hasPrefix("diffusion_pytorch_model") && $0.hasSuffix(".safetensors") }.sorted()
        guard !weightFiles.isEmpty else {
            throw WeightsError.notADiffusersFolder(path: unet.path, reason: "no diffusion_pytorch_model.safetensors")
        }

        // Built beside the output and renamed into place only when complete.
        let staging = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
            for entry in try manager.contentsOfDirectory(atPath: folder.path) where entry != "unet" {
                try copyResolvingLinks(folder.appendingPathComponent(entry), to: staging.appendingPathComponent(entry))
            }
            let stagedUNet = staging.appendingPathComponent("unet")
            try manager.createDirectory(at: stagedUNet, withIntermediateDirectories: false)
            for entry in entries where !weightFiles.contains(entry) {
                try copyResolvingLinks(unet.appendingPathComponent(entry), to: stagedUNet.appendingPathComponent(entry))
            }
            var report = Report(layers: [], untouchedTensors: 0, bakedFiles: weightFiles.map { "unet/" + $0 })
            for name in weightFiles {
                let file = try WeightFile.open(unet.appendingPathComponent(name))
                let keys = Set(file.tensorNames)
                try rewrite(file, keyOfLayer: { keys.contains($0 + ".weight") ? $0 + ".weight" : nil }, adapters: adapters,
                            gates: gates, record: record, to: stagedUNet.appendingPathComponent(name), report: &report)
            }
            guard rename(staging.path, output.path) == 0 else {
                throw WeightsError.writeFailed(file: output.path, reason: "rename: " + String(cString: strerror(errno)))
            }
            return report
        } catch {
            try? manager.removeItem(at: staging)
            throw error
        }
    }

    /// Copies a file, or a folder recursively, with the contents symbolic links point to: a Hugging Face cache
    /// snapshot links every file to a blob by a relative path that would dangle in the copy.
    private static func copyResolvingLinks(_ source: URL, to destination: URL) throws {
        let manager = FileManager.default
        let resolved = source.resolvingSymlinksInPath()
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: resolved.path, isDirectory: &isDirectory) else {
            throw WeightsError.cannotRead(file: source.path, reason: "a link to nothing")
        }
        guard isDirectory.boolValue else { return try manager.copyItem(at: resolved, to: destination) }
        try manager.createDirectory(at: destination, withIntermediateDirectories: false)
        for entry in try manager.contentsOfDirectory(atPath: resolved.path) {
            try copyResolvingLinks(resolved.appendingPathComponent(entry), to: destination.appendingPathComponent(entry))
        }
    }

    // MARK: One weight file

    /// Writes `file` to `output` with each adapted layer's weight (found by `keyOfLayer`) replaced by W + ΔW, the
    /// header's tensor entries and every other byte of the data section unchanged.
    private static func rewrite(_ file: SafetensorsFile, keyOfLayer: (String) -> String?, adapters: [String: LowRankAdapter],
                                gates: [Float], record: String, to output: URL, report: inout Report) throws {
        var replaced: [(range: Range<Int>, bytes: [UInt8])] = []
        var results: [LayerResult] = []
        for (layer, adapter) in adapters {
            guard let key = keyOfLayer(layer) else { throw BakeError.missingLayer(file: file.path, layer: layer) }
            let info = try file.info(key)
            let (out, inFeatures) = (adapter.up.shape[0], adapter.down.shape[1])
            guard info.dtype.isWritableFromFloat, info.elementCount == out * inFeatures, info.shape.first == out else {
                throw BakeError.misshaped(file: file.path, tensor: key, shape: info.shape, dtype: info.dtype,
                                          expected: [out, inFeatures])
            }
            let rankGates = Tensor(adapter.gateOfRank.map { gates[$0] }, shape: [1, adapter.rank])
            let delta = Tensor.matmul(adapter.up * rankGates, adapter.down).contiguous().toArray()
            let original = try file.floats(key)
            let baked = zip(original, delta).map { $0 + $1 }
            guard let bytes = info.dtype.encode(baked) else {
                throw BakeError.misshaped(file: file.path, tensor: key, shape: info.shape, dtype: info.dtype, expected: [out, inFeatures])
            }
            let stored = try file.rawBytes(key)
            let size = info.dtype.byteSize
            var survived = 0
            for element in 0..<info.elementCount where delta[element] != 0 {
                let offset = element * size
                if !(0..<size).allSatisfy({ bytes[offset + $0] == stored[offset + $0] }) { survived += 1 }
            }
            results.append(LayerResult(layer: layer, tensor: key, dtype: info.dtype,
                                       affected: delta.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }, survived: survived))
            replaced.append((info.dataRange, bytes))
        }
        replaced.sort { $0.range.lowerBound < $1.range.lowerBound }
        let order = Dictionary(uniqueKeysWithValues: file.tensors.enumerated().map { ($1.name, $0) })
        report.layers += results.sorted { order[$0.tensor] ?? 0 < order[$1.tensor] ?? 0 }
        report.untouchedTensors += file.tensors.count - replaced.count

        var metadata = file.metadata
        metadata[metadataKey] = record
        let header = try headerBytes(of: file, metadata: metadata)
        let data = file.dataSection
        let path = output.path
        try AtomicFile.write(to: path) { descriptor in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try AtomicFile.writeAll($0, to: descriptor, path: path) }
            try header.withUnsafeBytes { try AtomicFile.writeAll($0, to: descriptor, path: path) }
            var cursor = 0
            for change in replaced {
                try AtomicFile.writeAll(UnsafeRawBufferPointer(rebasing: data[cursor..<change.range.lowerBound]), to: descriptor, path: path)
                try change.bytes.withUnsafeBytes { try AtomicFile.writeAll($0, to: descriptor, path: path) }
                cursor = change.range.upperBound
            }
            try AtomicFile.writeAll(UnsafeRawBufferPointer(rebasing: data[cursor...]), to: descriptor, path: path)
        }
    }

    /// The file's own header with `metadata` in place of its `__metadata__`: tensor entries (and so every data
    /// offset) exactly as they were, padded with spaces to a multiple of 8 as safetensors writers do.
    private static func headerBytes(of file: SafetensorsFile, metadata: [String: String]) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw WeightsError.cannotRead(file: file.path, reason: "cannot open")
        }
        defer { try? handle.close() }
        let prefix = Array(try handle.read(upToCount: 8) ?? Data())
        guard prefix.count == 8 else { throw WeightsError.fileTooShort(file: file.path, size: prefix.count) }
        let length = prefix.reversed().reduce(0) { $0 << 8 | Int($1) }
        let text = Array(try handle.read(upToCount: length) ?? Data())
        guard let members = (try? JSONParser.parse(text))?.members else { throw WeightsError.headerNotObject(file: file.path) }
        let entries = metadata.sorted { $0.key < $1.key }.map { JSONMember($0.key, .string($0.value)) }
        let header = [JSONMember("__metadata__", .object(entries))] + members.filter { $0.key != "__metadata__" }
        var bytes = Array(JSONValue.object(header).serialized().utf8)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
        return bytes
    }
}

/// What can stop a bake: one line naming the file or layer.
public enum BakeError: Error, Equatable, Sendable, CustomStringConvertible {
    case outputIsInput(path: String)
    case outputExists(path: String)
    case notACheckpoint(file: String)
    case shardedUNet(folder: String)
    case missingLayer(file: String, layer: String)
    case misshaped(file: String, tensor: String, shape: [Int], dtype: ElementType, expected: [Int])

    public var description: String {
        switch self {
        case .outputIsInput(let path):
            return "\(path): the output would overwrite the input model; choose another path"
        case .outputExists(let path):
            return "\(path): already exists; a baked diffusers folder is written to a new path"
        case .notACheckpoint(let file):
            return "\(file): no UNet weights in LDM/SGM naming (model.diffusion_model.…): not a single-file SD checkpoint"
        case .shardedUNet(let folder):
            return "\(folder): sharded UNet weights (*.safetensors.index.json) are not supported; save the UNet as one file"
        case .missingLayer(let file, let layer):
            return "\(file): no weight for the membrane's layer \(layer) (a membrane for another model?)"
        case .misshaped(let file, let tensor, let shape, let dtype, let expected):
            return "\(file): tensor \"\(tensor)\" is \(dtype.rawValue) \(shape), expected a float weight of \(expected[0])×\(expected[1]) for the membrane's layer"
        }
    }
}
