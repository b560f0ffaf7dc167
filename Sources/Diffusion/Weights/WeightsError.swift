/// Everything that can be wrong with a weights file or folder. Each description is one line that names the file
/// and says what was found and what was expected.
public enum WeightsError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotRead(file: String, reason: String)
    /// A PyTorch pickle (`.ckpt`, `.pt`, `.pth`, `.bin`, or pickle/zip magic bytes): never loaded.
    case pickleRefused(file: String)
    case fileTooShort(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64)
    case headerBeyondFile(file: String, length: UInt64, fileSize: Int)
    case headerNotUTF8(file: String)
    case headerNotJSON(file: String, detail: String)
    case headerNotObject(file: String)
    case duplicateTensorName(file: String, name: String)
    case metadataNotObject(file: String)
    case metadataValueNotString(file: String, key: String)
    case invalidTensorEntry(file: String, tensor: String, problem: String)
    case unknownDtype(file: String, tensor: String, dtype: String)
    case sizeOverflow(file: String, tensor: String)
    case byteCountMismatch(file: String, tensor: String, expected: Int, actual: Int)
    case offsetsReversed(file: String, tensor: String, begin: Int, end: Int)
    case offsetsOutOfRange(file: String, tensor: String, end: Int, dataSize: Int)
    case overlappingTensors(file: String, tensor: String, previous: String)
    case gapBeforeTensor(file: String, tensor: String, gapBytes: Int)
    case trailingBytes(file: String, count: Int)
    case tensorNotFound(file: String, name: String)
    case invalidEntryForWriting(file: String, tensor: String, problem: String)
    case writeFailed(file: String, reason: String)
    case notADiffusersFolder(path: String, reason: String)
    case invalidConfig(file: String, problem: String)
    /// A component folder holds no safetensors weights under the names diffusers uses.
    case noWeights(folder: String, expected: String, pickles: [String])
    /// No full-precision weights and several precision variants: the caller must choose one.
    case ambiguousVariant(folder: String, expected: String, variants: [String])
    /// A variant was asked for that no component of the folder has.
    case variantNotFound(folder: String, variant: String, available: [String])

    public var description: String {
        switch self {
        case .cannotRead(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .pickleRefused(let file):
            return "\(file): refused: PyTorch pickle checkpoints can run arbitrary code when loaded, so weights are read "
                + "from safetensors only — convert it first (e.g. with safetensors.torch.save_file, or "
                + "diffusers' save_pretrained(..., safe_serialization=True))"
        case .fileTooShort(let file, let size):
            return "\(file): \(size) bytes is too short for a safetensors file (expected at least the 8-byte header length)"
        case .headerTooLarge(let file, let length):
            return "\(file): header length \(length) exceeds the \(SafetensorsFile.maximumHeaderLength)-byte limit"
        case .headerBeyondFile(let file, let length, let fileSize):
            return "\(file): header length \(length) runs past the end of the \(fileSize)-byte file"
        case .headerNotUTF8(let file):
            return "\(file): header is not valid UTF-8"
        case .headerNotJSON(let file, let detail):
            return "\(file): header is not valid JSON: \(detail)"
        case .headerNotObject(let file):
            return "\(file): header is not a JSON object"
        case .duplicateTensorName(let file, let name):
            return "\(file): header names \"\(name)\" twice"
        case .metadataNotObject(let file):
            return "\(file): __metadata__ is not an object of strings"
        case .metadataValueNotString(let file, let key):
            return "\(file): __metadata__ value of \"\(key)\" is not a string"
        case .invalidTensorEntry(let file, let tensor, let problem):
            return "\(file): tensor \"\(tensor)\": \(problem)"
        case .unknownDtype(let file, let tensor, let dtype):
            return "\(file): tensor \"\(tensor)\": unknown dtype \"\(dtype)\" (expected one of "
                + ElementType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .sizeOverflow(let file, let tensor):
            return "\(file): tensor \"\(tensor)\": shape × dtype size overflows"
        case .byteCountMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor \"\(tensor)\": shape × dtype size is \(expected) bytes but data_offsets span \(actual)"
        case .offsetsReversed(let file, let tensor, let begin, let end):
            return "\(file): tensor \"\(tensor)\": data_offsets begin \(begin) is after end \(end)"
        case .offsetsOutOfRange(let file, let tensor, let end, let dataSize):
            return "\(file): tensor \"\(tensor)\": data_offsets end \(end) is beyond the \(dataSize)-byte data section"
        case .overlappingTensors(let file, let tensor, let previous):
            return "\(file): tensor \"\(tensor)\" overlaps tensor \"\(previous)\""
        case .gapBeforeTensor(let file, let tensor, let gapBytes):
            return "\(file): \(gapBytes) bytes before tensor \"\(tensor)\" belong to no tensor (data must be contiguous)"
        case .trailingBytes(let file, let count):
            return "\(file): \(count) bytes after the last tensor belong to no tensor (file truncated or padded?)"
        case .tensorNotFound(let file, let name):
            return "\(file): no tensor named \"\(name)\""
        case .invalidEntryForWriting(let file, let tensor, let problem):
            return "\(file): cannot write tensor \"\(tensor)\": \(problem)"
        case .writeFailed(let file, let reason):
            return "\(file): write failed: \(reason)"
        case .notADiffusersFolder(let path, let reason):
            return "\(path): not a diffusers model folder: \(reason)"
        case .invalidConfig(let file, let problem):
            return "\(file): \(problem)"
        case .noWeights(let folder, let expected, let pickles):
            return "\(folder): no \(expected) (safetensors weights, single or sharded, full precision or a variant)"
                + (pickles.isEmpty ? "" : "; \(pickles.joined(separator: ", ")) is a PyTorch pickle: convert it to safetensors")
        case .ambiguousVariant(let folder, let expected, let variants):
            return "\(folder): no full-precision \(expected) but the variants \(variants.joined(separator: ", ")): "
                + "choose one (--variant)"
        case .variantNotFound(let folder, let variant, let available):
            return "\(folder): no component has \(variant) weights ("
                + (available.isEmpty ? "the folder has no precision variants" : "variants here: \(available.joined(separator: ", "))") + ")"
        }
    }
}
