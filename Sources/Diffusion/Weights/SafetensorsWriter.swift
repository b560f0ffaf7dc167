import Foundation

/// One tensor to write: its name, element type, shape and little-endian bytes.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: ElementType
    public let shape: [Int]
    private let payload: Payload

    /// Where the data lives: F32 values are kept as the floats they are and written from their own memory on a
    /// little-endian machine, so a 1 GB merged membrane is not copied into a second gigabyte on its way to disk.
    private enum Payload: Sendable, Equatable {
        case bytes([UInt8])
        case float32([Float])
    }

    public init(name: String, dtype: ElementType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        payload = .bytes(bytes)
    }

    /// `values` stored as F32.
    public init(name: String, float32 values: [Float], shape: [Int]) {
        self.name = name
        dtype = .f32
        self.shape = shape
        payload = UInt32(1).littleEndian == 1 ? .float32(values) : .bytes(ElementType.f32.encode(values) ?? [])
    }

    /// `values` stored as `dtype` (F64, F32, F16 or BF16; F16/BF16 round to nearest even).
    /// Returns nil for a dtype that cannot be written from floats.
    public init?(name: String, floats values: [Float], shape: [Int], as dtype: ElementType) {
        if dtype == .f32 {
            self.init(name: name, float32: values, shape: shape)
        } else {
            guard let bytes = dtype.encode(values) else { return nil }
            self.init(name: name, dtype: dtype, shape: shape, bytes: bytes)
        }
    }

    /// The little-endian data as the file holds it.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public var byteCount: Int {
        switch payload {
        case .bytes(let bytes): return bytes.count
        case .float32(let values): return values.count * MemoryLayout<Float>.size
        }
    }

    /// Calls `body` with the data as the file holds it, without copying it.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch payload {
        case .bytes(let bytes): return try bytes.withUnsafeBytes(body)
        case .float32(let values): return try values.withUnsafeBytes(body)
        }
    }

    public static func == (lhs: SafetensorsEntry, rhs: SafetensorsEntry) -> Bool {
        lhs.name == rhs.name && lhs.dtype == rhs.dtype && lhs.shape == rhs.shape
            && lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }
}

/// Writes safetensors files the way the reference implementation does (8-byte little-endian header length,
/// compact JSON header padded with spaces to a multiple of 8, then the data), and atomically: the bytes go to a
/// temporary file in the destination's directory, which is fsynced and renamed over the destination, so a crash
/// or error never leaves a half-written file behind.
public enum SafetensorsWriter {
    /// Writes `entries` and `metadata` to `url`.
    ///
    /// Data is laid out by decreasing element size (stable, so entries of one size keep their order), as the
    /// reference does: with the 8-byte-aligned header every tensor is then aligned for its dtype in a mapping.
    public static func write(_ entries: [SafetensorsEntry], metadata: [String: String] = [:], to url: URL) throws {
        let path = url.path
        let header = try headerBytes(entries, metadata: metadata, path: path)
        try AtomicFile.write(to: path) { descriptor in
            var headerLength = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &headerLength) { try AtomicFile.writeAll($0, to: descriptor, path: path) }
            try header.withUnsafeBytes { try AtomicFile.writeAll($0, to: descriptor, path: path) }
            for entry in dataOrder(entries) {
                try entry.withUnsafeBytes { try AtomicFile.writeAll($0, to: descriptor, path: path) }
            }
        }
    }

    /// The complete file as bytes (the same layout `write` produces), for in-memory use and tests.
    public static func serialize(_ entries: [SafetensorsEntry], metadata: [String: String] = [:]) throws -> [UInt8] {
        let header = try headerBytes(entries, metadata: metadata, path: "<memory>")
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: header)
        for entry in dataOrder(entries) { entry.withUnsafeBytes { file.append(contentsOf: $0) } }
        return file
    }

    /// The order the data section holds `entries` in (what a hash of the data section, kohya's
    /// `sshs_model_hash`, must digest before the header is written).
    public static func dataOrder(_ entries: [SafetensorsEntry]) -> [SafetensorsEntry] {
        entries.enumerated()
            .sorted { ($1.element.dtype.byteSize, $0.offset) < ($0.element.dtype.byteSize, $1.offset) }
            .map(\.element)
    }

    private static func headerBytes(_ entries: [SafetensorsEntry], metadata: [String: String], path: String) throws -> [UInt8] {
        var names = Set<String>()
        for entry in entries {
            func invalid(_ problem: String) -> WeightsError {
                .invalidEntryForWriting(file: path, tensor: entry.name, problem: problem)
            }
            guard entry.name != "__metadata__" else { throw invalid("the name is reserved for metadata") }
            guard names.insert(entry.name).inserted else { throw invalid("the name appears twice") }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("negative dimension in shape \(entry.shape)") }
            var elementCount = 1
            for size in entry.shape {
                let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
                guard !overflow else { throw invalid("shape \(entry.shape) overflows") }
                elementCount = product
            }
            let (expectedBytes, overflow) = elementCount.multipliedReportingOverflow(by: entry.dtype.byteSize)
            guard !overflow, expectedBytes == entry.byteCount else {
                throw invalid("shape \(entry.shape) of \(entry.dtype.rawValue) needs \(elementCount) × \(entry.dtype.byteSize) bytes, got \(entry.byteCount)")
            }
        }

        var members: [JSONMember] = []
        if !metadata.isEmpty {
            let sorted = metadata.sorted { $0.key < $1.key }.map { JSONMember($0.key, .string($0.value)) }
            members.append(JSONMember("__metadata__", .object(sorted)))
        }
        var offset = 0
        for entry in dataOrder(entries) {
            let end = offset + entry.byteCount
            members.append(JSONMember(entry.name, .object([
                JSONMember("dtype", .string(entry.dtype.rawValue)),
                JSONMember("shape", .array(entry.shape.map { .integer($0) })),
                JSONMember("data_offsets", .array([.integer(offset), .integer(end)])),
            ])))
            offset = end
        }
        var header = Array(JSONValue.object(members).serialized().utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        return header
    }
}
