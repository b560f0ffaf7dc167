import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where one tensor lives in a safetensors file and how to read it.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: ElementType
    public let shape: [Int]
    /// Byte range within the data section (the bytes after the header), as the header's `data_offsets` say.
    public let dataRange: Range<Int>

    /// Number of elements (1 for a 0-dimensional tensor).
    public var elementCount: Int { dataRange.count / dtype.byteSize }
}

/// A safetensors file, memory-mapped read-only. The whole header is checked when the file is opened (the
/// coverage and overlap rules need every entry); tensor data is touched only when a tensor is asked for.
///
/// Every file is treated as hostile: after a successful open, every tensor's range lies inside the data section,
/// ranges tile it exactly (no overlap, no gap, nothing after the last), and each range's length equals
/// shape × dtype size. So no accessor can read outside the mapping.
/// (As with any mapping, a file truncated by another process while mapped can still fault: don't do that.)
///
/// The object is immutable and the mapping read-only, so it may be shared across threads.
public final class SafetensorsFile: @unchecked Sendable {
    /// The reference implementation's limit; real headers are at most a few MB.
    public static let maximumHeaderLength = 100_000_000

    /// The path the file was opened from (or the name given to in-memory bytes), used in error messages.
    public let path: String
    /// The header's `__metadata__` strings (empty when absent).
    public let metadata: [String: String]
    /// Every tensor, in data order (ascending offsets).
    public let tensors: [TensorInfo]
    /// Tensor names in data order.
    public var tensorNames: [String] { tensors.map(\.name) }

    private let indexByName: [String: Int]
    private let base: UnsafeRawPointer
    private let byteCount: Int
    private let dataStart: Int
    private let isMapped: Bool

    /// Maps and checks the file at `url`. Internal: everything opens weights through `WeightFile.open`, which
    /// refuses pickles first.
    convenience init(url: URL) throws {
        let path = url.path
        let (base, size) = try SafetensorsFile.map(path: path)
        let header: ParsedHeader
        do {
            header = try SafetensorsFile.parse(UnsafeRawBufferPointer(start: base, count: size), path: path)
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
            throw error
        }
        self.init(path: path, base: base, byteCount: size, isMapped: true, header: header)
    }

    /// Checks and holds a copy of in-memory file bytes; `name` stands for the path in messages.
    public convenience init(bytes: [UInt8], name: String) throws {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        storage.copyBytes(from: bytes)
        let header: ParsedHeader
        do {
            header = try SafetensorsFile.parse(UnsafeRawBufferPointer(rebasing: storage[0..<bytes.count]), path: name)
        } catch {
            storage.deallocate()
            throw error
        }
        self.init(path: name, base: UnsafeRawPointer(storage.baseAddress!), byteCount: bytes.count, isMapped: false, header: header)
    }

    private init(path: String, base: UnsafeRawPointer, byteCount: Int, isMapped: Bool, header: ParsedHeader) {
        self.path = path
        self.base = base
        self.byteCount = byteCount
        self.isMapped = isMapped
        self.dataStart = header.dataStart
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.indexByName = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
    }

    deinit {
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), byteCount)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// Whether a tensor of that name exists.
    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    /// The dtype, shape and byte range of tensor `name`.
    public func info(_ name: String) throws -> TensorInfo {
        guard let index = indexByName[name] else { throw WeightsError.tensorNotFound(file: path, name: name) }
        return tensors[index]
    }

    /// Total number of elements over all tensors.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    /// The raw little-endian bytes of tensor `name`. The buffer points into the mapping: it stays valid only
    /// while this object is alive, and it may be unaligned for its dtype.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let range = try info(name).dataRange
        return UnsafeRawBufferPointer(start: base + dataStart + range.lowerBound, count: range.count)
    }

    /// A copy of the raw bytes of tensor `name`.
    public func bytes(_ name: String) throws -> [UInt8] {
        Array(try rawBytes(name))
    }

    /// Tensor `name` converted to `Float` (row-major, `info(name).shape`).
    public func floats(_ name: String) throws -> [Float] {
        let tensor = try info(name)
        let raw = try rawBytes(name)
        return [Float](unsafeUninitializedCapacity: tensor.elementCount) { buffer, initialized in
            tensor.dtype.decode(raw, into: buffer)
            initialized = tensor.elementCount
        }
    }

    /// The bytes after the header (what kohya's `sshs_model_hash` digests).
    public var dataSection: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataStart, count: byteCount - dataStart)
    }

    // MARK: - Opening and checking

    private static func map(path: String) throws -> (UnsafeRawPointer, Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WeightsError.cannotRead(file: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw WeightsError.cannotRead(file: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw WeightsError.cannotRead(file: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size >= 8 else { throw WeightsError.fileTooShort(file: path, size: size) }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapping != MAP_FAILED else {
            throw WeightsError.cannotRead(file: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        return (UnsafeRawPointer(mapping), size)
    }

    struct ParsedHeader {
        let metadata: [String: String]
        let tensors: [TensorInfo]
        let dataStart: Int
    }

    /// Parses and checks the header of the complete file `file`, following the reference implementation's
    /// rules (huggingface/safetensors `read_metadata` and `validate`), with one error per problem.
    static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        guard file.count >= 8 else { throw WeightsError.fileTooShort(file: path, size: file.count) }
        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw WeightsError.headerTooLarge(file: path, length: headerLength)
        }
        let dataStart = 8 + Int(headerLength)
        guard dataStart <= file.count else {
            throw WeightsError.headerBeyondFile(file: path, length: headerLength, fileSize: file.count)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<dataStart])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw WeightsError.headerNotUTF8(file: path) }

        let header: JSONValue
        do {
            header = try JSONParser.parse(headerBytes)
        } catch {
            if case .duplicateKey(let key, depth: 1) = error.problem {
                throw WeightsError.duplicateTensorName(file: path, name: key)
            }
            throw WeightsError.headerNotJSON(file: path, detail: error.description)
        }
        guard let members = header.members else { throw WeightsError.headerNotObject(file: path) }

        let dataSize = file.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(members.count)
        for member in members {
            if member.key == "__metadata__" {
                metadata = try parseMetadata(member.value, path: path)
            } else {
                tensors.append(try parseTensor(name: member.key, entry: member.value, dataSize: dataSize, path: path))
            }
        }

        // Ranges must tile the data section: sorted by offsets, each begins where the previous ended.
        tensors.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound) < ($1.dataRange.lowerBound, $1.dataRange.upperBound) }
        var covered = 0
        var previous: String?
        for tensor in tensors {
            if tensor.dataRange.lowerBound < covered, let previous {
                throw WeightsError.overlappingTensors(file: path, tensor: tensor.name, previous: previous)
            }
            if tensor.dataRange.lowerBound > covered {
                throw WeightsError.gapBeforeTensor(file: path, tensor: tensor.name, gapBytes: tensor.dataRange.lowerBound - covered)
            }
            covered = tensor.dataRange.upperBound
            previous = tensor.name
        }
        guard covered == dataSize else { throw WeightsError.trailingBytes(file: path, count: dataSize - covered) }
        return ParsedHeader(metadata: metadata, tensors: tensors, dataStart: dataStart)
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws -> [String: String] {
        // The reference reads an `Option<HashMap<String, String>>`, so null means "none".
        if value == .null { return [:] }
        guard let members = value.members else { throw WeightsError.metadataNotObject(file: path) }
        var metadata: [String: String] = [:]
        for member in members {
            guard let text = member.value.stringValue else {
                throw WeightsError.metadataValueNotString(file: path, key: member.key)
            }
            metadata[member.key] = text
        }
        return metadata
    }

    private static func parseTensor(name: String, entry: JSONValue, dataSize: Int, path: String) throws -> TensorInfo {
        func invalid(_ problem: String) -> WeightsError {
            .invalidTensorEntry(file: path, tensor: name, problem: problem)
        }
        guard entry.members != nil else { throw invalid("entry is not an object") }
        guard let dtypeValue = entry["dtype"] else { throw invalid("missing \"dtype\"") }
        guard let dtypeName = dtypeValue.stringValue else { throw invalid("\"dtype\" is not a string") }
        guard let dtype = ElementType(rawValue: dtypeName) else {
            throw WeightsError.unknownDtype(file: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValue = entry["shape"] else { throw invalid("missing \"shape\"") }
        guard let dimensions = shapeValue.arrayValue else { throw invalid("\"shape\" is not an array") }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let size = dimension.nonNegativeIntValue else {
                throw invalid("\"shape\" holds \(dimension.serialized()), expected non-negative integers")
            }
            shape.append(size)
        }
        guard let offsetsValue = entry["data_offsets"] else { throw invalid("missing \"data_offsets\"") }
        guard let offsets = offsetsValue.arrayValue, offsets.count == 2,
              let begin = offsets[0].nonNegativeIntValue, let end = offsets[1].nonNegativeIntValue
        else { throw invalid("\"data_offsets\" is \(offsetsValue.serialized()), expected [begin, end] non-negative integers") }

        var elementCount = 1
        for size in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
            guard !overflow else { throw WeightsError.sizeOverflow(file: path, tensor: name) }
            elementCount = product
        }
        let (expectedBytes, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw WeightsError.sizeOverflow(file: path, tensor: name) }
        guard begin <= end else { throw WeightsError.offsetsReversed(file: path, tensor: name, begin: begin, end: end) }
        guard end <= dataSize else {
            throw WeightsError.offsetsOutOfRange(file: path, tensor: name, end: end, dataSize: dataSize)
        }
        guard end - begin == expectedBytes else {
            throw WeightsError.byteCountMismatch(file: path, tensor: name, expected: expectedBytes, actual: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }
}
