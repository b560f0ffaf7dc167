import CDNNL
import CKernels
import Foundation

// oneDNN (Debian libdnnl 2.6, C API): the products (convolutions, linear layers, attention's) on the oneDNN
// backend, and every bf16 product (`ComputePrecision.bf16`), forward and input gradients. For convolutions every
// operand's layout is left to oneDNN (`format_tag_any`); weights never change between calls, so they are
// reordered once per layer and direction (`OneDNNWeightCache`) and reused. (Linear layers' weights are read in
// their own [out, in] layout, at bf16 from one converted copy: reordering them measured no faster and cost a copy
// per direction.) Our tensors stay NCHW, so activations are reordered into the layout oneDNN
// chose (NHWC, for its brgconv kernels on this CPU) and the result back, inside each call: measured on SD1.5's
// UNet, that is 30% faster than handing oneDNN plain NCHW, for which it falls back to its own im2col + GEMM
// (BENCHMARKS.md, "oneDNN convolution backend").
//
// Threads: Debian's oneDNN runs on OpenMP. OpenMP's team size is a per-thread setting, so before creating or
// running a primitive we set the calling thread's team size from `ComputeEnvironment.threadCount` — the one
// thread setting, which OpenBLAS holds. oneDNN is never called inside our own parallel loops.

/// The process's oneDNN CPU engine. Every primitive and memory object must name one engine; creating it
/// queries the CPU and is not free, and oneDNN engines are thread-safe, so one is made lazily on first use (a
/// `static let`, initialised exactly once even when several threads race to it) and kept for the process's life.
final class OneDNNEngine: @unchecked Sendable {
    let handle: dnnl_engine_t

    /// nil when oneDNN cannot create a CPU engine; callers then use the OpenBLAS path.
    static let shared: OneDNNEngine? = {
        var engine: dnnl_engine_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine else { return nil }
        return OneDNNEngine(handle: engine)
    }()

    private init(handle: dnnl_engine_t) { self.handle = handle }

    /// Runs `primitive` with `arguments` (argument index, memory description, address) on a stream of its own
    /// and waits for it. A stream per call costs a few microseconds and lets threads run primitives at once.
    func execute(_ primitive: dnnl_primitive_t, _ arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, handle, UInt32(dnnl_stream_default_flags.rawValue)), "stream")
        var memories: [dnnl_exec_arg_t] = []
        defer {
            for argument in memories { dnnl_memory_destroy(argument.memory) }
            dnnl_stream_destroy(stream)
        }
        for (index, description, address) in arguments {
            var memory: dnnl_memory_t?
            var description = description
            OneDNN.check(dnnl_memory_create(&memory, &description, handle, address), "memory")
            memories.append(dnnl_exec_arg_t(arg: index, memory: memory))
        }
        OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(memories.count), memories), "execute")
        OneDNN.check(dnnl_stream_wait(stream), "stream wait")
    }
}

enum OneDNN {
    /// A failure after a primitive was created (out of memory, a broken install) is not recoverable input.
    static func check(_ status: dnnl_status_t, _ step: String) {
        precondition(status == dnnl_success, "oneDNN: \(step) failed with status \(status.rawValue)")
    }

    /// Sets the calling thread's OpenMP team size (see the file comment): the engine's thread count unless told.
    static func applyThreadCount(_ threads: Int = ComputeEnvironment.threadCount) {
        omp_set_num_threads(Int32(threads))
    }

    /// The team for a product of `multiplyAdds`: one thread below 2²² (≈ 40 µs of one core). An OpenMP team
    /// ends each call at a barrier, and on a busy machine a team member the scheduler has set aside holds the
    /// barrier for a whole time slice: the tiny models' thousands of small products then ran 5× slower on two
    /// threads than on one (a golden pipeline's 10 steps at 32 px: 1.86 s against 0.37 s for OpenBLAS, which
    /// runs small GEMMs on one thread for the same reason).
    static func threads(forMultiplyAdds multiplyAdds: Int) -> Int {
        multiplyAdds < 1 << 22 ? 1 : ComputeEnvironment.threadCount
    }

    /// A memory description with dimensions `dims` in `tag` layout, of fp32 elements unless `type` says otherwise.
    static func plainDescription(_ dims: [Int], _ tag: dnnl_format_tag_t,
                                 _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        var description = dnnl_memory_desc_t()
        let dims64 = dims.map(Int64.init)
        check(dnnl_memory_desc_init_by_tag(&description, Int32(dims.count), dims64, type, tag), "memory desc")
        return description
    }

    /// A memory description with dimensions `dims` whose elements lie `strides` apart.
    static func stridedDescription(_ dims: [Int], _ strides: [Int], _ type: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var description = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_strides(&description, Int32(dims.count), dims.map(Int64.init),
                                               type, strides.map(Int64.init)), "memory desc")
        return description
    }

    /// The element type of a product's sources (activations and weights) at `precision`; results stay fp32.
    /// Whether oneDNN runs bf16 products on this CPU (it needs AVX-512 at least): a small bf16 matmul and
    /// convolution are created once to find out.
    static let runsBFloat16: Bool =
        OneDNNMatmul.cached(OneDNNMatmulKey(linearRows: 4, inFeatures: 8, outFeatures: 8, hasBias: false,
                                            precision: .bf16)) != nil
        && OneDNNConvolution.cached(OneDNNConvolutionKey(input: [1, 8, 4, 4], weight: [8, 8, 3, 3], stride: [1, 1],
                                                         padding: [1, 1], hasBias: false, precision: .bf16)) != nil

    static func operandType(_ precision: ComputePrecision) -> dnnl_data_type_t {
        precision == .bf16 ? dnnl_bf16 : dnnl_f32
    }

    /// A primitive descriptor for `operation` with a user scratchpad (oneDNN's own is shared between
    /// primitives, which is unsafe for concurrent calls), nil when oneDNN has no implementation for it.
    /// `forward`: for a backward operation, the descriptor of the forward one it reverses (oneDNN's hint).
    static func primitiveDescriptor(_ operation: UnsafeRawPointer, threads: Int, engine: OneDNNEngine,
                                    forward: dnnl_primitive_desc_t? = nil) -> dnnl_primitive_desc_t? {
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad")
        applyThreadCount(threads)
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&descriptor, operation, attributes, engine.handle, forward) == dnnl_success
        else { return nil }
        return descriptor
    }

    /// The primitive `descriptor` describes, nil when oneDNN cannot create it.
    static func primitive(_ descriptor: dnnl_primitive_desc_t) -> dnnl_primitive_t? {
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success else { return nil }
        return primitive
    }

    static func query(_ descriptor: dnnl_primitive_desc_t, _ what: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, what, 0).pointee
    }

    static func bytes(of description: dnnl_memory_desc_t) -> Int {
        withUnsafePointer(to: description) { Int(dnnl_memory_desc_get_size($0)) }
    }

    static func equal(_ first: dnnl_memory_desc_t, _ second: dnnl_memory_desc_t) -> Bool {
        withUnsafePointer(to: first) { a in withUnsafePointer(to: second) { b in dnnl_memory_desc_equal(a, b) != 0 } }
    }
}

/// A buffer of raw bytes 64-byte aligned, freed with its owner.
final class AlignedBuffer: @unchecked Sendable {
    let address: UnsafeMutableRawPointer
    init(byteCount: Int) { address = .allocate(byteCount: Swift.max(byteCount, 1), alignment: 64) }
    deinit { address.deallocate() }
}

/// A created reorder primitive between two layouts of the same tensor.
final class OneDNNReorder: @unchecked Sendable {
    let primitive: dnnl_primitive_t
    let source, destination: dnnl_memory_desc_t

    init(from source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, engine: OneDNNEngine) {
        var (from, to) = (source, destination)
        var descriptor: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_reorder_primitive_desc_create(&descriptor, &from, engine.handle, &to, engine.handle, nil),
                     "reorder desc")
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, descriptor), "reorder")
        self.primitive = primitive!
        self.source = source
        self.destination = destination
    }

    deinit { dnnl_primitive_destroy(primitive) }

    func run(from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer, engine: OneDNNEngine) {
        engine.execute(primitive, [(spm_dnnl_arg_from, source, from), (spm_dnnl_arg_to, destination, to)])
    }
}

// MARK: - Convolution

/// The shape of one convolution (groups 1, no dilation), which is all a cached primitive depends on.
struct OneDNNConvolutionKey: Hashable {
    let input: [Int]           // N, C, H, W
    let weight: [Int]          // O, C, kh, kw
    let stride, padding: [Int] // (h, w)
    let hasBias: Bool
    let precision: ComputePrecision
    /// The input's gradient from the output's (backward data) rather than the output from the input.
    let inputGradient: Bool
    /// `OneDNN.threads(forMultiplyAdds:)` of the convolution: oneDNN sizes its work split by it at creation.
    let threads: Int

    /// N, O, H, W of the result.
    let output: [Int]

    init(input: [Int], weight: [Int], stride: [Int], padding: [Int], hasBias: Bool, precision: ComputePrecision,
         inputGradient: Bool = false) {
        (self.input, self.weight, self.stride, self.padding) = (input, weight, stride, padding)
        self.hasBias = hasBias && !inputGradient
        self.precision = precision
        self.inputGradient = inputGradient
        output = [input[0], weight[0],
                  (input[2] + 2 * padding[0] - weight[2]) / stride[0] + 1,
                  (input[3] + 2 * padding[1] - weight[3]) / stride[1] + 1]
        threads = OneDNN.threads(forMultiplyAdds: Swift.max(output.reduce(1, *), 0) * weight[1] * weight[2] * weight[3])
    }
}

/// A created convolution primitive and the memory layouts it expects. Immutable; oneDNN primitives may be
/// executed from several threads at once (each call brings its own stream and scratchpad). For an input
/// gradient, the primitive reads the output's gradient as its `source` and writes the input's as its
/// `destination`.
final class OneDNNConvolution: @unchecked Sendable {
    let primitive: dnnl_primitive_t
    /// Layouts: `source` and `destination` are oneDNN's choice, which may be blocked (see the reorders below).
    let source, weights, bias, destination, scratchpad: dnnl_memory_desc_t
    let scratchpadBytes: Int
    /// The weights as our tensors hold them (`oihw`), and whether oneDNN chose that layout, so the tensor's own
    /// weights can be passed as they are.
    let plainWeights: dnnl_memory_desc_t
    let weightsArePlain: Bool

    /// Reorders between our plain NCHW activations and the blocked layouts oneDNN chose for them; nil when it
    /// chose plain NCHW.
    let sourceReorder, destinationReorder: OneDNNReorder?
    /// The OpenMP team it was created for, and runs on.
    let threads: Int
    /// The execution arguments `source` and `destination` go in.
    let sourceArgument, destinationArgument: Int32

    /// Creates the primitive for `key`, or nil when oneDNN has no implementation for it.
    init?(_ key: OneDNNConvolutionKey, engine: OneDNNEngine) {
        let operandType = OneDNN.operandType(key.precision)
        bias = OneDNN.plainDescription([key.weight[0]], dnnl_x)
        plainWeights = OneDNN.plainDescription(key.weight, dnnl_oihw)
        var anyWeights = OneDNN.plainDescription(key.weight, dnnl_format_tag_any, operandType)
        var input = OneDNN.plainDescription(key.input, dnnl_format_tag_any, operandType)
        var output = OneDNN.plainDescription(key.output, dnnl_format_tag_any)
        var bias = bias
        let strides = key.stride.map(Int64.init), padding = key.padding.map(Int64.init)
        // A backward operation needs its forward one as a hint, described for training.
        let kind = key.inputGradient ? dnnl_forward_training : dnnl_forward_inference
        var forward = dnnl_convolution_desc_t()
        let status = key.hasBias
            ? dnnl_convolution_forward_desc_init(&forward, kind, dnnl_convolution_direct, &input, &anyWeights, &bias,
                                                 &output, strides, padding, padding)
            : dnnl_convolution_forward_desc_init(&forward, kind, dnnl_convolution_direct, &input, &anyWeights, nil,
                                                 &output, strides, padding, padding)
        guard status == dnnl_success,
              let forwardDescriptor = OneDNN.primitiveDescriptor(&forward, threads: key.threads, engine: engine)
        else { return nil }
        defer { dnnl_primitive_desc_destroy(forwardDescriptor) }
        var descriptor = forwardDescriptor
        if key.inputGradient {
            // The input's gradient in fp32, from the output's in the operand type.
            var inputGradient = OneDNN.plainDescription(key.input, dnnl_format_tag_any)
            var outputGradient = OneDNN.plainDescription(key.output, dnnl_format_tag_any, operandType)
            var backward = dnnl_convolution_desc_t()
            guard dnnl_convolution_backward_data_desc_init(&backward, dnnl_convolution_direct, &inputGradient,
                                                           &anyWeights, &outputGradient, strides, padding,
                                                           padding) == dnnl_success,
                  let backwardDescriptor = OneDNN.primitiveDescriptor(&backward, threads: key.threads, engine: engine,
                                                                      forward: forwardDescriptor)
            else { return nil }
            descriptor = backwardDescriptor
        }
        defer { if key.inputGradient { dnnl_primitive_desc_destroy(descriptor) } }
        guard let primitive = OneDNN.primitive(descriptor) else { return nil }
        self.primitive = primitive
        threads = key.threads
        weights = OneDNN.query(descriptor, dnnl_query_weights_md)
        let (sourceQuery, destinationQuery) = key.inputGradient
            ? (dnnl_query_diff_dst_md, dnnl_query_diff_src_md) : (dnnl_query_src_md, dnnl_query_dst_md)
        (sourceArgument, destinationArgument) = key.inputGradient
            ? (spm_dnnl_arg_diff_dst, spm_dnnl_arg_diff_src) : (spm_dnnl_arg_src, spm_dnnl_arg_dst)
        source = OneDNN.query(descriptor, sourceQuery)
        destination = OneDNN.query(descriptor, destinationQuery)
        // A reorder also converts: fp32 activations (or gradients) become the bf16 a bf16 convolution reads.
        let plainSource = OneDNN.plainDescription(key.inputGradient ? key.output : key.input, dnnl_nchw)
        let plainDestination = OneDNN.plainDescription(key.inputGradient ? key.input : key.output, dnnl_nchw)
        sourceReorder = OneDNN.equal(source, plainSource) ? nil
            : OneDNNReorder(from: plainSource, to: source, engine: engine)
        destinationReorder = OneDNN.equal(destination, plainDestination) ? nil
            : OneDNNReorder(from: destination, to: plainDestination, engine: engine)
        scratchpad = OneDNN.query(descriptor, dnnl_query_scratchpad_md)
        scratchpadBytes = OneDNN.bytes(of: scratchpad)
        weightsArePlain = OneDNN.equal(weights, plainWeights)
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// Primitives by shape. A model has a few dozen distinct convolution shapes, each created once (tens of
    /// milliseconds) and then reused by every call; the lock guards only the dictionary, never a convolution.
    private static let cache = OneDNNPrimitiveCache<OneDNNConvolutionKey, OneDNNConvolution>()

    static func cached(_ key: OneDNNConvolutionKey) -> OneDNNConvolution? {
        guard let engine = OneDNNEngine.shared else { return nil }
        return cache.primitive(for: key) { OneDNNConvolution(key, engine: engine) }
    }
}

/// A primitive cache by shape (see `OneDNNConvolution.cache`). A shape oneDNN cannot run is remembered as nil.
final class OneDNNPrimitiveCache<Key: Hashable, Primitive: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private var primitives: [Key: Primitive?] = [:]

    func primitive(for key: Key, create: () -> Primitive?) -> Primitive? {
        lock.lock()
        defer { lock.unlock() }
        if let known = primitives[key] { return known }
        let made = create()
        primitives[key] = made
        return made
    }
}

/// One layer's weights in the layouts oneDNN chose for them, made on first use and reused by every later call.
/// It remembers which weight storage it copied, so a layer whose weights were replaced is reordered afresh
/// (holding that storage also means the weights cannot be changed in place underneath the copies).
///
/// A cache made by `keepingBFloat16(of:)` holds the weights itself, as plain bf16 values, and makes every copy
/// from those: its layer keeps no fp32 weight, which halves a frozen model's weight memory at bf16 (issue 8).
public final class OneDNNWeightCache: @unchecked Sendable {
    private let lock = NSLock()
    private var source: (storage: TensorStorage, offset: Int)?
    private var copies: [(layout: dnnl_memory_desc_t, buffer: AlignedBuffer)] = []
    /// The weights as plain (row-major) bf16 and their shape, for a cache that holds its layer's weights.
    private let kept: (values: AlignedBuffer, layout: dnnl_memory_desc_t, shape: [Int])?

    public init() { kept = nil }

    private init(kept: (values: AlignedBuffer, layout: dnnl_memory_desc_t, shape: [Int])) { self.kept = kept }

    /// A cache holding `weight` (rank 2 or 4) as bf16, rounded to nearest even, for a layer that then drops its
    /// fp32 copy; nil when this CPU's oneDNN has no bf16 kernels (the layer must keep fp32 weights then).
    static func keepingBFloat16(of weight: Tensor) -> OneDNNWeightCache? {
        guard weight.rank == 2 || weight.rank == 4, weight.elementCount > 0, OneDNN.runsBFloat16 else { return nil }
        let dense = weight.contiguous()
        let values = AlignedBuffer(byteCount: 2 * dense.elementCount)
        withExtendedLifetime(dense.storage) {
            spm_bfloat16_rows(dense.elements, 1, dense.elementCount, dense.elementCount,
                              values.address.assumingMemoryBound(to: UInt16.self))
        }
        return OneDNNWeightCache(kept: (values, plainBFloat16Layout(weight.shape), weight.shape))
    }

    /// A layer's weight as it keeps it, and its cache: at `precision` bf16 the cache holds the weight in bf16
    /// and the layer keeps only a placeholder of its shape — unless the weight is trained (it needs fp32 values
    /// and gradients) or oneDNN runs no bf16 here; otherwise the weight itself and an empty cache.
    static func layerWeight(_ weight: Tensor, in precision: ComputePrecision) -> (Tensor, OneDNNWeightCache) {
        if precision == .bf16, !weight.requiresGradient, let holding = keepingBFloat16(of: weight) {
            return (.placeholder(weight.shape), holding)
        }
        return (weight, OneDNNWeightCache())
    }

    /// Whether this cache holds its layer's only copy of the weights (in bf16).
    var holdsWeights: Bool { kept != nil }

    /// The precision its layer runs at when `requested` is asked for: bf16 always when the cache holds the only
    /// weights, which are bf16.
    func precision(_ requested: ComputePrecision) -> ComputePrecision { kept == nil ? requested : .bf16 }

    /// The layer's weights as fp32 values, for the paths oneDNN does not run: `weight` itself, or, when this
    /// cache holds the weights, their bf16 values widened into a new tensor.
    func floatWeights(_ weight: Tensor) -> Tensor {
        guard let kept else { return weight }
        let bits = kept.values.address.assumingMemoryBound(to: UInt16.self)
        return Tensor(shape: kept.shape) { values in
            for index in values.indices { values[index] = Float(bitPattern: UInt32(bits[index]) << 16) }
        }
    }

    /// `weight` (laid out as `plain` describes once contiguous) in `layout`. A cache holding the weights makes
    /// the copy from its bf16 values instead, and hands those out as they are when `layout` is plain bf16.
    func weights(_ weight: Tensor, plain: dnnl_memory_desc_t, layout: dnnl_memory_desc_t,
                 engine: OneDNNEngine) -> AlignedBuffer {
        lock.lock()
        defer { lock.unlock() }
        if let kept, OneDNN.equal(kept.layout, layout) { return kept.values }
        if kept == nil && (source?.storage !== weight.storage || source?.offset != weight.offset) {
            source = (weight.storage, weight.offset)
            copies = []
        }
        if let copy = copies.first(where: { OneDNN.equal($0.layout, layout) }) { return copy.buffer }
        let buffer = AlignedBuffer(byteCount: OneDNN.bytes(of: layout))
        OneDNN.applyThreadCount()
        if let kept {
            OneDNNReorder(from: kept.layout, to: layout, engine: engine)
                .run(from: kept.values.address, to: buffer.address, engine: engine)
        } else {
            let dense = weight.contiguous()
            withExtendedLifetime(dense.storage) {
                OneDNNReorder(from: plain, to: layout, engine: engine)
                    .run(from: UnsafeMutableRawPointer(mutating: dense.elements), to: buffer.address, engine: engine)
            }
        }
        copies.append((layout, buffer))
        return buffer
    }

    /// Row-major bf16 of `shape` (rank 2 or 4): how a kept weight is stored.
    private static func plainBFloat16Layout(_ shape: [Int]) -> dnnl_memory_desc_t {
        OneDNN.plainDescription(shape, shape.count == 2 ? dnnl_ab : dnnl_abcd, dnnl_bf16)
    }
}

extension Tensor {
    /// conv2d (groups 1, no dilation) on oneDNN, with `weightCache` keeping the reordered weights between calls
    /// (pass the same cache for the same layer). nil when oneDNN cannot run this convolution.
    static func oneDNNConv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: SpatialPair, padding: SpatialPair,
                             precision: ComputePrecision = .fp32, weightCache: OneDNNWeightCache) -> Tensor? {
        guard input.rank == 4, weight.rank == 4, input.shape[1] == weight.shape[1] else { return nil }
        let key = OneDNNConvolutionKey(input: input.shape, weight: weight.shape,
                                       stride: [stride.height, stride.width], padding: [padding.height, padding.width],
                                       hasBias: bias != nil, precision: precision)
        guard bias.map({ $0.shape == [weight.shape[0]] }) ?? true else { return nil }
        return runOneDNNConvolution(key, source: input, weight: weight, bias: bias, weightCache: weightCache)
    }

    /// The gradient of a convolution's input [N, C, H, W] (`inputShape`) from its output's (`gradient`), on
    /// oneDNN at `precision` (the gradient rounded at bf16, the sums fp32). nil when oneDNN cannot run it.
    static func oneDNNConv2dInputGradient(_ gradient: Tensor, weight: Tensor, inputShape: [Int], stride: SpatialPair,
                                          padding: SpatialPair, precision: ComputePrecision,
                                          weightCache: OneDNNWeightCache) -> Tensor? {
        guard inputShape.count == 4, weight.rank == 4, inputShape[1] == weight.shape[1] else { return nil }
        let key = OneDNNConvolutionKey(input: inputShape, weight: weight.shape,
                                       stride: [stride.height, stride.width], padding: [padding.height, padding.width],
                                       hasBias: false, precision: precision, inputGradient: true)
        guard gradient.shape == key.output else { return nil }
        return runOneDNNConvolution(key, source: gradient, weight: weight, bias: nil, weightCache: weightCache)
    }

    /// The convolution `key` describes from `source` (NCHW) into a new NCHW tensor, reordering the activations
    /// to and from the layouts oneDNN chose.
    private static func runOneDNNConvolution(_ key: OneDNNConvolutionKey, source: Tensor, weight: Tensor, bias: Tensor?,
                                             weightCache: OneDNNWeightCache) -> Tensor? {
        guard source.elementCount > 0, weight.elementCount > 0, key.output[2] > 0, key.output[3] > 0,
              let engine = OneDNNEngine.shared, let convolution = OneDNNConvolution.cached(key) else { return nil }
        let x = source.contiguous(), b = bias?.contiguous()
        // The weights as oneDNN reads them: the fp32 values where it chose their plain layout, else the layer's copy
        // in its own (and the object that keeps that memory alive).
        let weights: (address: UnsafeMutableRawPointer, owner: AnyObject)
        if convolution.weightsArePlain {
            let dense = weightCache.floatWeights(weight).contiguous()
            weights = (UnsafeMutableRawPointer(mutating: dense.elements), dense.storage)
        } else {
            let copy = weightCache.weights(weight, plain: convolution.plainWeights, layout: convolution.weights,
                                           engine: engine)
            weights = (copy.address, copy)
        }
        let result = Tensor(uninitializedShape: key.inputGradient ? key.input : key.output)
        let scratchpad = AlignedBuffer(byteCount: convolution.scratchpadBytes)
        let blockedSource = convolution.sourceReorder.map { AlignedBuffer(byteCount: OneDNN.bytes(of: $0.destination)) }
        let blockedDestination = convolution.destinationReorder.map {
            AlignedBuffer(byteCount: OneDNN.bytes(of: $0.source))
        }
        withExtendedLifetime((x.storage, weights.owner, b?.storage, scratchpad, blockedSource,
                              blockedDestination)) {
            OneDNN.applyThreadCount(convolution.threads)
            let plainSource = UnsafeMutableRawPointer(mutating: x.elements)
            let plainDestination = UnsafeMutableRawPointer(result.mutableElements)
            if let reorder = convolution.sourceReorder, let blockedSource {
                reorder.run(from: plainSource, to: blockedSource.address, engine: engine)
            }
            var arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (convolution.sourceArgument, convolution.source, blockedSource?.address ?? plainSource),
                (spm_dnnl_arg_weights, convolution.weights, weights.address),
                (convolution.destinationArgument, convolution.destination,
                 blockedDestination?.address ?? plainDestination),
                (spm_dnnl_arg_scratchpad, convolution.scratchpad, scratchpad.address),
            ]
            if let b { arguments.append((spm_dnnl_arg_bias, convolution.bias, UnsafeMutableRawPointer(mutating: b.elements))) }
            engine.execute(convolution.primitive, arguments)
            if let reorder = convolution.destinationReorder, let blockedDestination {
                reorder.run(from: blockedDestination.address, to: plainDestination, engine: engine)
            }
        }
        return result
    }
}

// MARK: - Matmul (linear layers, attention)

/// How a matmul's second operand ("weights", [inner, columns]) is laid out.
enum OneDNNWeightsForm: Hashable {
    /// Row-major [inner, columns], rows `leading` apart (attention's v; a `Linear`'s weight in the product giving
    /// its input's gradient).
    case rows(leading: Int)
    /// Column-major: row-major [columns, inner], rows `leading` apart (attention's kᵀ read from k; a `Linear`'s
    /// [out, in] weight in its forward product).
    case columns(leading: Int)
}

/// The shape and layout of one matmul, [rows, inner] · [inner, columns] (+ bias) → fp32 [rows, columns], which
/// is all a cached primitive depends on. Rows of the source and result may be further apart than their length.
struct OneDNNMatmulKey: Hashable {
    let rows, inner, columns: Int
    let sourceLeading, destinationLeading: Int
    let weights: OneDNNWeightsForm
    let hasBias: Bool
    /// The operands' element type (the caller converts them); results are fp32 either way.
    let precision: ComputePrecision
    /// `OneDNN.threads(forMultiplyAdds:)` of the product.
    let threads: Int

    /// A linear layer's product on dense rows. The weights are read as the layer holds them ([out, in] row-major;
    /// at bf16 its one converted copy, which the input gradient's product reads too): oneDNN's blocked layout
    /// measured no faster at fp32, and at bf16 slower for training while costing a copy per direction.
    init(linearRows rows: Int, inFeatures: Int, outFeatures: Int, hasBias: Bool, precision: ComputePrecision) {
        self.init(rows: rows, inner: inFeatures, columns: outFeatures, sourceLeading: inFeatures,
                  destinationLeading: outFeatures,
                  weights: .columns(leading: inFeatures), hasBias: hasBias, precision: precision)
    }

    /// The product giving a linear layer's input gradient: output-gradient rows [rows, out] · weight [out, in].
    init(linearGradientRows rows: Int, inFeatures: Int, outFeatures: Int, precision: ComputePrecision) {
        self.init(rows: rows, inner: outFeatures, columns: inFeatures, sourceLeading: outFeatures,
                  destinationLeading: inFeatures,
                  weights: .rows(leading: inFeatures), precision: precision)
    }

    init(rows: Int, inner: Int, columns: Int, sourceLeading: Int, destinationLeading: Int, weights: OneDNNWeightsForm,
         hasBias: Bool = false, precision: ComputePrecision) {
        (self.rows, self.inner, self.columns) = (rows, inner, columns)
        (self.sourceLeading, self.destinationLeading) = (sourceLeading, destinationLeading)
        self.weights = weights
        self.hasBias = hasBias
        self.precision = precision
        threads = OneDNN.threads(forMultiplyAdds: rows * inner * columns)
    }
}

/// A created matmul primitive and its layouts (immutable, like `OneDNNConvolution`).
final class OneDNNMatmul: @unchecked Sendable {
    let primitive: dnnl_primitive_t
    let source, weights, bias, destination, scratchpad: dnnl_memory_desc_t
    let scratchpadBytes: Int
    /// The OpenMP team it was created for, and runs on.
    let threads: Int

    init?(_ key: OneDNNMatmulKey, engine: OneDNNEngine) {
        let type = OneDNN.operandType(key.precision)
        var source = OneDNN.stridedDescription([key.rows, key.inner], [key.sourceLeading, 1], type)
        var destination = OneDNN.stridedDescription([key.rows, key.columns], [key.destinationLeading, 1], dnnl_f32)
        var bias = OneDNN.plainDescription([1, key.columns], dnnl_ab)
        var requestedWeights: dnnl_memory_desc_t
        switch key.weights {
        case .rows(let leading):
            requestedWeights = OneDNN.stridedDescription([key.inner, key.columns], [leading, 1], type)
        case .columns(let leading):
            requestedWeights = OneDNN.stridedDescription([key.inner, key.columns], [1, leading], type)
        }
        var operation = dnnl_matmul_desc_t()
        let status = key.hasBias
            ? dnnl_matmul_desc_init(&operation, &source, &requestedWeights, &bias, &destination)
            : dnnl_matmul_desc_init(&operation, &source, &requestedWeights, nil, &destination)
        guard status == dnnl_success,
              let descriptor = OneDNN.primitiveDescriptor(&operation, threads: key.threads, engine: engine)
        else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let primitive = OneDNN.primitive(descriptor) else { return nil }
        self.primitive = primitive
        threads = key.threads
        self.source = source
        self.bias = bias
        self.destination = destination
        weights = OneDNN.query(descriptor, dnnl_query_weights_md)
        scratchpad = OneDNN.query(descriptor, dnnl_query_scratchpad_md)
        scratchpadBytes = OneDNN.bytes(of: scratchpad)
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// Primitives by shape, as for convolutions: a model's products have a few dozen shapes.
    private static let cache = OneDNNPrimitiveCache<OneDNNMatmulKey, OneDNNMatmul>()

    static func cached(_ key: OneDNNMatmulKey) -> OneDNNMatmul? {
        guard let engine = OneDNNEngine.shared else { return nil }
        return cache.primitive(for: key) { OneDNNMatmul(key, engine: engine) }
    }

    /// destination ← source · weights (+ bias), on a team of `threads`.
    func run(source: UnsafeRawPointer, weights: UnsafeRawPointer, bias: UnsafePointer<Float>? = nil,
             destination: UnsafeMutablePointer<Float>, engine: OneDNNEngine) {
        OneDNN.applyThreadCount(threads)
        let scratch = AlignedBuffer(byteCount: scratchpadBytes)
        var arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (spm_dnnl_arg_src, self.source, UnsafeMutableRawPointer(mutating: source)),
            (spm_dnnl_arg_weights, self.weights, UnsafeMutableRawPointer(mutating: weights)),
            (spm_dnnl_arg_dst, self.destination, UnsafeMutableRawPointer(destination)),
            (spm_dnnl_arg_scratchpad, scratchpad, scratch.address),
        ]
        if let bias { arguments.append((spm_dnnl_arg_bias, self.bias, UnsafeMutableRawPointer(mutating: bias))) }
        withExtendedLifetime(scratch) { engine.execute(primitive, arguments) }
    }
}

/// Elements in oneDNN's bf16 type: the raw 16-bit patterns (`spm_bfloat16_rows` writes them).
final class BFloat16Buffer: @unchecked Sendable {
    let elements: UnsafeMutablePointer<UInt16>

    init(count: Int) { elements = .allocate(capacity: Swift.max(count, 1)) }

    deinit { elements.deallocate() }

    /// `rows` rows of `length` floats, `leading` apart, rounded to bf16, packed `length` apart from `offset`.
    /// Large inputs are split across the engine's threads.
    func convert(_ source: UnsafePointer<Float>, rows: Int, length: Int, leading: Int, at offset: Int = 0) {
        let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(length, 1))
        Parallel.forEachChunk(count: rows, minimumChunk: minimumRows) { range in
            spm_bfloat16_rows(source + range.lowerBound * leading, range.count, length, leading,
                              elements + offset + range.lowerBound * length)
        }
    }
}

extension Tensor {
    /// PyTorch's `linear` (input [.., in] · weightᵀ + bias, weight [out, in]) on oneDNN at `precision`, with
    /// `weightCache` keeping the bf16 weights between calls. nil when oneDNN cannot run it.
    static func oneDNNLinear(_ input: Tensor, weight: Tensor, bias: Tensor?, precision: ComputePrecision,
                             weightCache: OneDNNWeightCache) -> Tensor? {
        guard weight.rank == 2, input.rank >= 1, input.shape.last == weight.shape[1],
              bias.map({ $0.shape == [weight.shape[0]] }) ?? true else { return nil }
        let key = OneDNNMatmulKey(linearRows: input.shape.dropLast().reduce(1, *), inFeatures: weight.shape[1],
                                  outFeatures: weight.shape[0], hasBias: bias != nil, precision: precision)
        return oneDNNWeightProduct(input, weight: weight, bias: bias, key: key, weightCache: weightCache)
    }

    /// A linear layer's input gradient, gradient [.., out] · weight [out, in], on oneDNN at `precision` (the
    /// gradient rounded at bf16, the sums fp32), with the layer's `weightCache`. nil when oneDNN cannot run it.
    static func oneDNNLinearInputGradient(_ gradient: Tensor, weight: Tensor, precision: ComputePrecision,
                                          weightCache: OneDNNWeightCache) -> Tensor? {
        guard weight.rank == 2, gradient.rank >= 1, gradient.shape.last == weight.shape[0] else { return nil }
        let key = OneDNNMatmulKey(linearGradientRows: gradient.shape.dropLast().reduce(1, *),
                                  inFeatures: weight.shape[1], outFeatures: weight.shape[0], precision: precision)
        return oneDNNWeightProduct(gradient, weight: weight, bias: nil, key: key, weightCache: weightCache)
    }

    /// rows of `source` · `weight` as `key` reads it (+ bias) → [.., key.columns].
    private static func oneDNNWeightProduct(_ source: Tensor, weight: Tensor, bias: Tensor?, key: OneDNNMatmulKey,
                                            weightCache: OneDNNWeightCache) -> Tensor? {
        guard key.rows > 0, key.inner > 0, key.columns > 0, let engine = OneDNNEngine.shared,
              let matmul = OneDNNMatmul.cached(key) else { return nil }
        let x = source.contiguous(), b = bias?.contiguous()
        // At bf16 both of a layer's products read one bf16 copy of its [out, in] weight, as they read the fp32 one
        // (and the object that keeps that memory alive).
        let weights: (address: UnsafeRawPointer, owner: AnyObject)
        if key.precision == .bf16 {
            let copy = weightCache.weights(weight, plain: OneDNN.plainDescription(weight.shape, dnnl_ab),
                                           layout: OneDNN.plainDescription(weight.shape, dnnl_ab, dnnl_bf16),
                                           engine: engine)
            weights = (UnsafeRawPointer(copy.address), copy)
        } else {
            let dense = weightCache.floatWeights(weight).contiguous()
            weights = (UnsafeRawPointer(dense.elements), dense.storage)
        }
        let rounded = key.precision == .bf16 ? BFloat16Buffer(count: key.rows * key.inner) : nil
        let result = Tensor(uninitializedShape: Array(source.shape.dropLast()) + [key.columns])
        withExtendedLifetime((x.storage, weights.owner, b?.storage, rounded)) {
            rounded?.convert(x.elements, rows: key.rows, length: key.inner, leading: key.inner)
            matmul.run(source: rounded.map { UnsafeRawPointer($0.elements) } ?? UnsafeRawPointer(x.elements),
                       weights: weights.address,
                       bias: b?.elements, destination: result.mutableElements, engine: engine)
        }
        return result
    }
}
