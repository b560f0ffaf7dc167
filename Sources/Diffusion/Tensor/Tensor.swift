// Tensor: the engine's one numeric type — Float32 elements, any rank, arbitrary strides over a shared buffer.
//
// Error convention: a shape mismatch inside the engine is a programmer error, not bad user input (user input —
// files, configs, prompts — is validated where it enters, with thrown errors). Every op therefore checks its
// operands with `precondition` and a message naming the op and both shapes, for example
// "add: shapes [2, 3] and [4] do not broadcast". Preconditions stay active in release builds.
//
// Value semantics: a tensor and its views (reshape, permute, narrow, expand …) share one `TensorStorage`; ops
// never write into an operand's storage. The only way to write elements is `withUnsafeMutableBufferPointer`,
// which first gives the tensor storage of its own (copy-on-write), so no other tensor ever sees the change.

/// The reference-counted element buffer behind a tensor and its views, 64-byte aligned for vector loads.
/// It is written only while freshly made or uniquely referenced (see above), which is why sharing it between
/// threads is safe.
final class TensorStorage: @unchecked Sendable {
    let count: Int
    let base: UnsafeMutablePointer<Float>

    /// Elements are left uninitialised: every creator writes all of them before the tensor is handed out.
    init(uninitializedCount count: Int) {
        self.count = count
        base = BufferPool.shared.allocate(floats: count)
    }

    deinit { BufferPool.shared.deallocate(base, floats: count) }
}

public struct Tensor: Sendable {
    var storage: TensorStorage
    /// Size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// Elements to step in the storage for one step along each axis (0 for a broadcast axis).
    public private(set) var strides: [Int]
    /// Index in the storage of the element at index (0, 0, …).
    public private(set) var offset: Int
    /// How this tensor was computed from tensors that need gradients (nil: it needs none). See Autograd/.
    var gradientNode: GradientNode? = nil

    init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A contiguous tensor whose elements the caller must all write (through `mutableElements`) before use.
    init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative size in shape \(shape)")
        self.init(storage: TensorStorage(uninitializedCount: shape.elementCount), shape: shape,
                  strides: shape.contiguousStrides, offset: 0)
    }

    // MARK: Construction

    /// A tensor of `shape` holding `elements` in row-major order.
    public init(_ elements: [Float], shape: [Int]) {
        precondition(elements.count == shape.elementCount,
                     "Tensor: \(elements.count) elements do not fill shape \(shape)")
        self.init(uninitializedShape: shape)
        elements.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { mutableElements.update(from: address, count: source.count) }
        }
    }

    /// A tensor of `shape` copying `buffer` (row-major); for loaders that hold elements in foreign memory.
    public init(shape: [Int], copying buffer: UnsafeBufferPointer<Float>) {
        precondition(buffer.count == shape.elementCount,
                     "Tensor: \(buffer.count) elements do not fill shape \(shape)")
        self.init(uninitializedShape: shape)
        if let address = buffer.baseAddress { mutableElements.update(from: address, count: buffer.count) }
    }

    /// A tensor of `shape` whose row-major elements `initializer` writes into an uninitialised buffer; it must
    /// write every element. This is how weight loaders convert fp16/bf16 straight into a tensor without a copy.
    public init(shape: [Int],
                initializingElementsWith initializer: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(uninitializedShape: shape)
        try initializer(UnsafeMutableBufferPointer(start: mutableElements, count: shape.elementCount))
    }

    /// A rank-0 tensor holding one value.
    public init(scalar value: Float) {
        self.init([value], shape: [])
    }

    public static func full(_ shape: [Int], value: Float) -> Tensor {
        let tensor = Tensor(uninitializedShape: shape)
        tensor.mutableElements.update(repeating: value, count: shape.elementCount)
        return tensor
    }

    public static func zeros(_ shape: [Int]) -> Tensor { full(shape, value: 0) }
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, value: 1) }

    /// Zeros of `shape` as a view of one element (every stride 0), for a tensor whose shape is all that is read:
    /// what a checking reader hands out, and what a layer keeps whose weights live elsewhere.
    static func placeholder(_ shape: [Int]) -> Tensor {
        Tensor([0], shape: []).expanded(to: shape)
    }

    // MARK: Reading

    public var rank: Int { shape.count }
    /// Number of elements (1 for a rank-0 tensor).
    public var elementCount: Int { shape.elementCount }

    /// True when the elements lie in row-major order without gaps from `offset` on (size-1 axes may have any
    /// stride), so the tensor can be handed to BLAS or a flat loop as is.
    public var isContiguous: Bool {
        var expected = 1
        for axis in shape.indices.reversed() where shape[axis] != 1 {
            if shape[axis] == 0 { return true }
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The elements in row-major order.
    public func toArray() -> [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The value of a one-element tensor.
    public var scalarValue: Float {
        precondition(elementCount == 1, "scalarValue: shape \(shape) holds \(elementCount) elements, not 1")
        return storage.base[offset]
    }

    /// The element at a full index (one entry per axis).
    public subscript(_ index: Int...) -> Float { element(at: index) }

    /// The element at a full index (one entry per axis), read straight through the strides.
    public func element(at index: [Int]) -> Float {
        precondition(index.count == rank, "element: index \(index) does not match shape \(shape)")
        var position = offset
        for axis in 0..<rank {
            precondition((0..<shape[axis]).contains(index[axis]), "element: index \(index) outside shape \(shape)")
            position += index[axis] * strides[axis]
        }
        return storage.base[position]
    }

    /// Calls `body` with the elements in row-major order (copying them first when the tensor is a strided view).
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        let dense = contiguous()
        return try withExtendedLifetime(dense.storage) {
            try body(UnsafeBufferPointer(start: dense.elements, count: dense.elementCount))
        }
    }

    /// Calls `body` with writable row-major elements. The tensor first gets a compact storage of its own when it
    /// shares one (copy-on-write), so no view or copy of it sees the writes. Written elements are new values
    /// that no gradient can flow through, so the tensor leaves any gradient computation.
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        gradientNode = nil
        let ownsCompactStorage = isKnownUniquelyReferenced(&storage) && isContiguous && offset == 0
            && storage.count == elementCount
        if !ownsCompactStorage { self = copied() }
        return try body(UnsafeMutableBufferPointer(start: mutableElements, count: elementCount))
    }

    // MARK: Internal element access

    /// The address of element (0, 0, …); valid while `storage` is alive.
    var elements: UnsafePointer<Float> { UnsafePointer(storage.base + offset) }
    /// Writable address of element (0, 0, …); only for tensors an op has just created.
    var mutableElements: UnsafeMutablePointer<Float> { storage.base + offset }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = elementCount <= 8 ? " \(toArray())" : ""
        return "Tensor\(shape)\(preview)"
    }
}
