import CKernels

/// Scaled dot-product attention, softmax(q kᵀ / √d + mask) v, over [batch, heads, tokens, headDim] tensors.
///
/// Computed per (batch, head) in blocks of queries, flash-attention style: a block's scores are written by one
/// GEMM into a small buffer, turned into softmax's numerators in place (scale, mask and exponentials in one pass),
/// multiplied by v straight into the output while they are still in the core's cache, and each output row divided
/// by its sum. The full score matrix (4096 × 4096 per head for SD1.5 at 512 px) is never materialised, and memory
/// stays bounded.
public enum Attention {
    /// A block's score buffer holds at most this many elements (4 MiB): large enough for efficient GEMMs and few
    /// enough to stay in a core's L2 cache between the GEMM that writes it and the one that reads it.
    public static let scoreElementBudget = 1 << 20

    /// `causal`: position i attends to positions ≤ i only (CLIP's text transformer). At bf16
    /// (`ComputeEnvironment.precision`) q kᵀ and P v are bf16 products on oneDNN; scores, masks and exponentials stay
    /// fp32, and the numerators are rounded to bf16 as they are made. Heads of at most 16 dimensions (the tiny
    /// models') take fused kernels instead, in fp32 at either precision, with no block buffer at all.
    ///
    /// The gradient is recomputed block by block in the same way, in fp32: only q, k, v and the output are
    /// saved, never the probabilities, so training memory stays bounded like inference memory.
    public static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, causal: Bool = false) -> Tensor {
        scaledDotProduct(query: query, key: key, value: value, causal: causal, scoreBudget: scoreElementBudget,
                         precision: ComputeEnvironment.precision, backend: ComputeEnvironment.backend)
    }

    /// With the block's score budget and the precision as parameters, so tests can make several blocks out of
    /// small shapes and run both precisions side by side.
    static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, causal: Bool, scoreBudget: Int,
                                 precision: ComputePrecision = .fp32, backend: ComputeBackend = .openblas) -> Tensor {
        let onOneDNN = precision == .bf16 || backend == .onednn
        precondition(query.rank == 4 && key.rank == 4 && value.rank == 4
                     && key.shape[0...1] == query.shape[0...1] && value.shape[0...2] == key.shape[0...2]
                     && key.shape[3] == query.shape[3],
                     "attention: query \(query.shape), key \(key.shape), value \(value.shape) do not fit")
        let heads = HeadBlocks(query: query.detached(), key: key.detached(), value: value.detached(),
                               causal: causal, scoreBudget: scoreBudget)
        let output = heads.isNarrow ? heads.narrowForward()
            : (onOneDNN ? heads.oneDNNForward(precision: precision) : nil) ?? heads.forward()
        let savedOutput = output.detached()
        let needs = (query: query.requiresGradient, key: key.requiresGradient, value: value.requiresGradient)
        return output.recorded(from: [query, key, value]) { gradient in
            let (gradientQuery, gradientKey, gradientValue) = heads.backward(
                gradient, output: savedOutput, needsQuery: needs.query, needsKey: needs.key, needsValue: needs.value)
            return [gradientQuery, gradientKey, gradientValue]
        }
    }

    /// The per-(batch, head) GEMMs of attention over query blocks, forward and backward.
    private struct HeadBlocks: Sendable {
        let query: Tensor, key: Tensor, value: Tensor
        let causal: Bool
        let scale: Float
        let batch: Int, heads: Int, queries: Int, keys: Int, headDim: Int, valueDim: Int
        /// Queries per block.
        let blockLength: Int
        /// Elements of a block's score buffer.
        var blockElements: Int { blockLength * Swift.max(keys, 1) }

        init(query: Tensor, key: Tensor, value: Tensor, causal: Bool, scoreBudget: Int) {
            (batch, heads, queries, headDim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
            (keys, valueDim) = (key.shape[2], value.shape[3])
            self.query = query
            self.key = key
            self.value = value
            self.causal = causal
            scale = 1 / Float(headDim).squareRoot()
            blockLength = Swift.max(1, Swift.min(queries, scoreBudget / Swift.max(keys, 1)))
        }

        /// The output [batch, heads, queries, valueDim], stored with the heads merged ([batch, queries, heads,
        /// valueDim], what the output projection reads), so `mergeHeads` needs no copy.
        func forward() -> Tensor {
            let merged = Tensor(uninitializedShape: [batch, queries, heads, valueDim])
            guard merged.elementCount > 0 else { return merged.permuted([0, 2, 1, 3]) }
            let q = HeadOperand(query), kT = HeadOperand(key, transposed: true), v = HeadOperand(value)
            let scores = BufferPool.shared.allocate(floats: blockElements)
            defer { BufferPool.shared.deallocate(scores, floats: blockElements) }
            var normalisers = [Float](repeating: 0, count: blockLength)
            let output = merged.mutableElements
            withExtendedLifetime((q, kT, v)) {
                for b in 0..<batch {
                    for h in 0..<heads {
                        for start in Swift.stride(from: 0, to: queries, by: blockLength) {
                            let rows = Swift.min(blockLength, queries - start)
                            sgemm(m: rows, n: keys, k: headDim, a: q.matrix(b, h, row: start), q.layout,
                                  b: kT.matrix(b, h), kT.layout, c: scores, ldc: keys, beta: 0)
                            numerators(scores, start: start, rows: rows, bf16: nil, normalisers: &normalisers)
                            let block = output + ((b * queries + start) * heads + h) * valueDim
                            sgemm(m: rows, n: valueDim, k: keys, a: scores, BLASMatrix(rowMajorWithColumns: keys),
                                  b: v.matrix(b, h), v.layout, c: block, ldc: heads * valueDim, beta: 0)
                            normalise(block, rows: rows, by: normalisers)
                        }
                    }
                }
            }
            return merged.permuted([0, 2, 1, 3])
        }

        /// softmax(q kᵀ·scale + mask) for `rows` queries from `start` of (b, h), row-major into `scores`, rows
        /// `leading` apart with 0 past the last key.
        private func probabilities(_ b: Int, _ h: Int, start: Int, rows: Int, q: HeadOperand, kT: HeadOperand,
                                   into scores: UnsafeMutablePointer<Float>, leading: Int) {
            sgemm(m: rows, n: keys, k: headDim, a: q.matrix(b, h, row: start), q.layout,
                  b: kT.matrix(b, h), kT.layout, c: scores, ldc: leading, beta: 0)
            let (keys, scale, causal) = (self.keys, self.scale, self.causal)
            Parallel.forEachChunk(count: rows, minimumChunk: minimumRows) { range in
                for row in range { (scores + row * leading + keys).update(repeating: 0, count: leading - keys) }
                // Causal: keys after the query's own position get probability 0 (a −∞ score).
                spm_softmax_rows(scores + range.lowerBound * leading, range.count, keys, leading, scale,
                                 causal ? start + range.lowerBound : -1)
            }
        }

        /// Scores of `rows` queries from `start` (row-major in `scores`) → softmax's numerators, in place or
        /// rounded to bf16 into `bf16`, and each row's 1 / Σ into `normalisers`: scale, mask and exponentials in
        /// one pass. The division is left to `normalise`, on the block's output: `valueDim` numbers a row instead
        /// of `keys`.
        private func numerators(_ scores: UnsafeMutablePointer<Float>, start: Int, rows: Int,
                                bf16: UnsafeMutablePointer<UInt16>?, normalisers: inout [Float]) {
            let (keys, scale, causal) = (self.keys, self.scale, self.causal)
            normalisers.withUnsafeMutableBufferPointer { normalisers in
                let normalisers = normalisers.baseAddress!
                Parallel.forEachChunk(count: rows, minimumChunk: minimumRows) { range in
                    let first = range.lowerBound
                    spm_softmax_numerators(scores + first * keys, range.count, keys, keys, scale,
                                           causal ? start + first : -1, bf16.map { $0 + first * keys },
                                           normalisers + first)
                }
            }
        }

        /// A block's output rows (merged heads: `heads · valueDim` apart) divided by their softmax sums.
        private func normalise(_ block: UnsafeMutablePointer<Float>, rows: Int, by normalisers: [Float]) {
            for row in 0..<rows {
                let outputRow = block + row * heads * valueDim
                for d in 0..<valueDim { outputRow[d] *= normalisers[row] }
            }
        }

        /// Rows of a block a thread's share of softmax holds at least.
        private var minimumRows: Int { Swift.max(1, Parallel.elementGrain / Swift.max(keys, 1)) }

        /// The forward with q kᵀ and P v as oneDNN products at `precision` (at bf16: operands rounded once per
        /// call, softmax's numerators as they are made; scores, mask and exponentials in fp32); the output layout
        /// is `forward`'s. nil when oneDNN cannot run these products.
        func oneDNNForward(precision: ComputePrecision) -> Tensor? {
            guard let engine = OneDNNEngine.shared, batch * heads * queries * keys * valueDim > 0 else { return nil }
            let lastRows = queries - (queries - 1) / blockLength * blockLength
            func scoreProduct(_ rows: Int) -> OneDNNMatmul? {
                OneDNNMatmul.cached(OneDNNMatmulKey(rows: rows, inner: headDim, columns: keys, sourceLeading: headDim,
                                                   destinationLeading: keys, weights: .columns(leading: headDim),
                                                   precision: precision))
            }
            func outputProduct(_ rows: Int) -> OneDNNMatmul? {
                OneDNNMatmul.cached(OneDNNMatmulKey(rows: rows, inner: keys, columns: valueDim, sourceLeading: keys,
                                                   destinationLeading: heads * valueDim,
                                                   weights: .rows(leading: valueDim), precision: precision))
            }
            guard let scoresFull = scoreProduct(blockLength), let scoresLast = scoreProduct(lastRows),
                  let outputFull = outputProduct(blockLength), let outputLast = outputProduct(lastRows) else { return nil }
            let isBF16 = precision == .bf16
            let elementBytes = isBF16 ? 2 : 4
            // Each head's operands packed [batch, heads, tokens, dim] (rounded to bf16 at bf16), and what owns them.
            func packed(_ t: Tensor, tokens: Int, dim: Int) -> (owner: AnyObject, base: UnsafeRawPointer) {
                guard isBF16 else {
                    let dense = t.contiguous()
                    return (dense.storage, UnsafeRawPointer(dense.elements))
                }
                let rows = t.contiguousHeads()
                let buffer = BFloat16Buffer(count: batch * heads * tokens * dim)
                withExtendedLifetime(rows.storage) {
                    for b in 0..<batch {
                        for h in 0..<heads {
                            buffer.convert(rows.element(b, h, 0), rows: tokens, length: dim, leading: rows.strides[2],
                                           at: (b * heads + h) * tokens * dim)
                        }
                    }
                }
                return (buffer, UnsafeRawPointer(buffer.elements))
            }
            let q = packed(query, tokens: queries, dim: headDim), k = packed(key, tokens: keys, dim: headDim)
            let v = packed(value, tokens: keys, dim: valueDim)
            let merged = Tensor(uninitializedShape: [batch, queries, heads, valueDim])
            let output = merged.mutableElements
            let scores = BufferPool.shared.allocate(floats: blockElements)
            defer { BufferPool.shared.deallocate(scores, floats: blockElements) }
            let probabilities = isBF16 ? BFloat16Buffer(count: blockElements) : nil
            var normalisers = [Float](repeating: 0, count: blockLength)
            withExtendedLifetime((q.owner, k.owner, v.owner, probabilities)) {
                for b in 0..<batch {
                    for h in 0..<heads {
                        let head = b * heads + h
                        for start in Swift.stride(from: 0, to: queries, by: blockLength) {
                            let rows = Swift.min(blockLength, queries - start)
                            let full = rows == blockLength
                            (full ? scoresFull : scoresLast).run(
                                source: q.base + (head * queries + start) * headDim * elementBytes,
                                weights: k.base + head * keys * headDim * elementBytes, destination: scores,
                                engine: engine)
                            numerators(scores, start: start, rows: rows, bf16: probabilities?.elements,
                                       normalisers: &normalisers)
                            let block = output + ((b * queries + start) * heads + h) * valueDim
                            (full ? outputFull : outputLast).run(
                                source: probabilities.map { UnsafeRawPointer($0.elements) } ?? UnsafeRawPointer(scores),
                                weights: v.base + head * keys * valueDim * elementBytes, destination: block,
                                engine: engine)
                            normalise(block, rows: rows, by: normalisers)
                        }
                    }
                }
            }
            return merged.permuted([0, 2, 1, 3])
        }

        /// Gradients of Σ gradient ⊙ output. With P = softmax(S), S = q kᵀ·scale, O = P v, per block:
        /// dV += Pᵀ dO,  dP = dO vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O))·scale,  dQ = dS k,  dK += dSᵀ q.
        /// Each gradient is stored with the heads merged, like the forward output (the layout the projections'
        /// gradients are read in).
        func backward(_ gradient: Tensor, output: Tensor, needsQuery: Bool, needsKey: Bool,
                      needsValue: Bool) -> (Tensor?, Tensor?, Tensor?) {
            if isNarrow {
                return narrowHeadBackward(gradient, output: output, needsQuery: needsQuery, needsKey: needsKey,
                                          needsValue: needsValue)
            }
            let mergedQuery = needsQuery ? Tensor(uninitializedShape: [batch, queries, heads, headDim]) : nil
            let mergedKey = needsKey ? Tensor.zeros([batch, keys, heads, headDim]) : nil
            let mergedValue = needsValue ? Tensor.zeros([batch, keys, heads, valueDim]) : nil
            let q = HeadOperand(query), kT = HeadOperand(key, transposed: true), k = HeadOperand(key)
            let vT = HeadOperand(value, transposed: true)
            let dO = HeadOperand(gradient), o = output.contiguousHeads()
            let probabilities = BufferPool.shared.allocate(floats: blockElements)
            let scoreGradient = BufferPool.shared.allocate(floats: blockElements)
            var rowDot = [Float](repeating: 0, count: blockLength)
            defer {
                BufferPool.shared.deallocate(probabilities, floats: blockElements)
                BufferPool.shared.deallocate(scoreGradient, floats: blockElements)
            }
            let (scale, keys, valueDim) = (self.scale, self.keys, self.valueDim)
            withExtendedLifetime((q, kT, k, vT, dO, o, mergedQuery, mergedKey, mergedValue)) {
                for b in 0..<batch {
                    for h in 0..<heads {
                        for start in Swift.stride(from: 0, to: queries, by: blockLength) {
                            let rows = Swift.min(blockLength, queries - start)
                            self.probabilities(b, h, start: start, rows: rows, q: q, kT: kT, into: probabilities,
                                               leading: keys)
                            let blockGradient = dO.matrix(b, h, row: start)
                            if let mergedValue {
                                sgemm(m: keys, n: valueDim, k: rows,
                                      a: probabilities, BLASMatrix(rows: keys, columns: rows, rowStride: 1, columnStride: keys)!,
                                      b: blockGradient, dO.layout,
                                      c: mergedValue.mutableElements + (b * keys * heads + h) * valueDim,
                                      ldc: heads * valueDim, beta: 1)
                            }
                            guard needsQuery || needsKey else { continue }
                            sgemm(m: rows, n: keys, k: valueDim, a: blockGradient, dO.layout, b: vT.matrix(b, h), vT.layout,
                                  c: scoreGradient, ldc: keys, beta: 0)
                            rowDots(b, h, start: start, rows: rows, gradient: blockGradient,
                                    rowStride: dO.rowStride, columnStride: dO.columnStride, output: o, into: &rowDot)
                            rowDot.withUnsafeBufferPointer { rowDot in
                                Parallel.forEachChunk(count: rows, minimumChunk: minimumRows) { range in
                                    let offset = range.lowerBound * keys
                                    spm_softmax_backward_rows(probabilities + offset, scoreGradient + offset,
                                                              rowDot.baseAddress! + range.lowerBound, range.count,
                                                              keys, keys, scale)
                                }
                            }
                            if let mergedQuery {
                                sgemm(m: rows, n: headDim, k: keys, a: scoreGradient, BLASMatrix(rowMajorWithColumns: keys),
                                      b: k.matrix(b, h), k.layout,
                                      c: mergedQuery.mutableElements + ((b * queries + start) * heads + h) * headDim,
                                      ldc: heads * headDim, beta: 0)
                            }
                            if let mergedKey {
                                sgemm(m: keys, n: headDim, k: rows,
                                      a: scoreGradient, BLASMatrix(rows: keys, columns: rows, rowStride: 1, columnStride: keys)!,
                                      b: q.matrix(b, h, row: start), q.layout,
                                      c: mergedKey.mutableElements + (b * keys * heads + h) * headDim,
                                      ldc: heads * headDim, beta: 1)
                            }
                        }
                    }
                }
            }
            let toHeads = { (merged: Tensor?) in merged?.permuted([0, 2, 1, 3]) }
            return (toHeads(mergedQuery), toHeads(mergedKey), toHeads(mergedValue))
        }

        /// rowsum(dO ⊙ O) for the block's queries from `start` of (b, h); `gradient` points at the block's first
        /// row of dO.
        private func rowDots(_ b: Int, _ h: Int, start: Int, rows: Int, gradient: UnsafePointer<Float>, rowStride: Int,
                             columnStride: Int, output o: Tensor, into rowDot: inout [Float]) {
            for row in 0..<rows {
                let outputRow = o.element(b, h, start + row)
                var dot: Float = 0
                for d in 0..<valueDim { dot += gradient[row * rowStride + d * columnStride] * outputRow[d] }
                rowDot[row] = dot
            }
        }

        /// Heads of at most 16 dimensions (the tiny models' 4–16), and at least one key, take `narrowForward`
        /// and `narrowHeadBackward`: products of inner or outer size 4–16 spend their time packing operands.
        var isNarrow: Bool { Swift.max(headDim, valueDim) <= 16 && keys > 0 }

        /// `keys` rounded up to whole vectors of 16: the narrow-head kernels' rows of keys, 0 past the last key,
        /// so that they never handle a partial vector.
        private var keyStride: Int { (keys + 15) / 16 * 16 }

        /// (b, h)'s keys and values as kᵀ [headDim][keyStride] and vᵀ [valueDim][keyStride], dense and 0 past the
        /// last key, at `keyT` and right after it (the narrow-head kernels read along keys). `keys` and `values`
        /// have unit-stride rows.
        private func transposeHead(_ b: Int, _ h: Int, keys dense: Tensor, values: Tensor,
                                   into keyT: UnsafeMutablePointer<Float>) {
            let stride = keyStride
            let valueT = keyT + headDim * stride
            for j in 0..<keys {
                let keyRow = dense.element(b, h, j), valueRow = values.element(b, h, j)
                for d in 0..<headDim { keyT[d * stride + j] = keyRow[d] }
                for d in 0..<valueDim { valueT[d * stride + j] = valueRow[d] }
            }
            for d in 0..<(headDim + valueDim) { (keyT + d * stride + keys).update(repeating: 0, count: stride - keys) }
        }

        /// The forward for narrow heads: `spm_attention_narrow_head_rows` over each head's kᵀ and vᵀ, split
        /// across threads by queries; `forward`'s output layout. In fp32 at either precision: no product here is
        /// wide enough for bf16 to pay.
        func narrowForward() -> Tensor {
            let merged = Tensor(uninitializedShape: [batch, queries, heads, valueDim])
            let output = merged.mutableElements
            let rowsOfQ = query.contiguousHeads(), dense = key.contiguousHeads(), values = value.contiguousHeads()
            let (keys, keyStride, headDim, valueDim) = (self.keys, self.keyStride, self.headDim, self.valueDim)
            let transposedFloats = (headDim + valueDim) * keyStride
            let keyT = BufferPool.shared.allocate(floats: transposedFloats)
            defer { BufferPool.shared.deallocate(keyT, floats: transposedFloats) }
            let (heads, queries) = (self.heads, self.queries)
            let (scale, causal) = (self.scale, self.causal)
            withExtendedLifetime((rowsOfQ, dense, values)) {
                for b in 0..<batch {
                    for h in 0..<heads {
                        transposeHead(b, h, keys: dense, values: values, into: keyT)
                        Parallel.forEachChunk(count: queries, minimumChunk: minimumRows) { range in
                            let scores = BufferPool.shared.allocate(floats: keyStride)
                            defer { BufferPool.shared.deallocate(scores, floats: keyStride) }
                            let first = range.lowerBound
                            spm_attention_narrow_head_rows(
                                rowsOfQ.element(b, h, first), rowsOfQ.strides[2], range.count, keyT,
                                keyT + headDim * keyStride, keys, keyStride, headDim, valueDim, scale,
                                causal ? first : -1, scores,
                                output + ((b * queries + first) * heads + h) * valueDim, heads * valueDim)
                        }
                    }
                }
            }
            return merged.permuted([0, 2, 1, 3])
        }

        /// `backward` for narrow heads: the same formulas, but the products with an inner or outer size of
        /// `headDim` run in the fused kernels of `spm_attention_key_gradients` (dV, dS and dK in one pass along
        /// the keys, split across threads by keys) and `spm_attention_query_gradients` (dQ, split by rows), over
        /// each head's kᵀ and vᵀ made dense. The same bits for any thread count.
        private func narrowHeadBackward(_ gradient: Tensor, output: Tensor, needsQuery: Bool, needsKey: Bool,
                                        needsValue: Bool) -> (Tensor?, Tensor?, Tensor?) {
            let mergedQuery = needsQuery ? Tensor(uninitializedShape: [batch, queries, heads, headDim]) : nil
            let mergedKey = needsKey ? Tensor(uninitializedShape: [batch, keys, heads, headDim]) : nil
            let mergedValue = needsValue ? Tensor(uninitializedShape: [batch, keys, heads, valueDim]) : nil
            let q = HeadOperand(query), kT = HeadOperand(key, transposed: true)
            let rowsOfQ = query.contiguousHeads(), dO = gradient.contiguousHeads(), o = output.contiguousHeads()
            let dense = key.contiguousHeads(), values = value.contiguousHeads()
            // One head's kᵀ, vᵀ, dKᵀ and dVᵀ, [dimension][keyStride].
            let (keys, keyStride, headDim, valueDim) = (self.keys, self.keyStride, self.headDim, self.valueDim)
            let scale = self.scale
            let transposedFloats = 2 * (headDim + valueDim) * keyStride
            let transposed = BufferPool.shared.allocate(floats: transposedFloats)
            let keyT = transposed, valueT = transposed + headDim * keyStride
            let keyGradientT = valueT + valueDim * keyStride, valueGradientT = keyGradientT + headDim * keyStride
            let blockFloats = blockLength * keyStride
            let probabilities = BufferPool.shared.allocate(floats: blockFloats)
            var rowDot = [Float](repeating: 0, count: blockLength)
            defer {
                BufferPool.shared.deallocate(transposed, floats: transposedFloats)
                BufferPool.shared.deallocate(probabilities, floats: blockFloats)
            }
            withExtendedLifetime((q, kT, rowsOfQ, dO, o, dense, values, mergedQuery, mergedKey, mergedValue)) {
                for b in 0..<batch {
                    for h in 0..<heads {
                        transposeHead(b, h, keys: dense, values: values, into: keyT)
                        keyGradientT.update(repeating: 0, count: (headDim + valueDim) * keyStride)
                        for start in Swift.stride(from: 0, to: queries, by: blockLength) {
                            let rows = Swift.min(blockLength, queries - start)
                            self.probabilities(b, h, start: start, rows: rows, q: q, kT: kT, into: probabilities,
                                               leading: keyStride)
                            let blockGradient = dO.element(b, h, start)
                            rowDots(b, h, start: start, rows: rows, gradient: blockGradient, rowStride: dO.strides[2],
                                    columnStride: 1, output: o, into: &rowDot)
                            rowDot.withUnsafeBufferPointer { rowDot in
                                // Keys in whole vectors of 16 to each thread.
                                let groups = keyStride / 16
                                let minimumGroups = Swift.max(1, Parallel.elementGrain / (16 * rows))
                                Parallel.forEachChunk(count: groups, minimumChunk: minimumGroups) { range in
                                    spm_attention_key_gradients(
                                        probabilities, rows, keyStride, 16 * range.lowerBound, 16 * range.upperBound,
                                        blockGradient, dO.strides[2],
                                        rowDot.baseAddress!, rowsOfQ.element(b, h, start), rowsOfQ.strides[2],
                                        valueT, headDim, valueDim, scale, needsKey ? keyGradientT : nil,
                                        needsValue ? valueGradientT : nil)
                                }
                            }
                            if let mergedQuery {
                                let first = mergedQuery.mutableElements + ((b * queries + start) * heads + h) * headDim
                                Parallel.forEachChunk(count: rows, minimumChunk: minimumRows) { range in
                                    spm_attention_query_gradients(
                                        probabilities + range.lowerBound * keyStride, range.count, keyStride, keyT,
                                        headDim, first + range.lowerBound * heads * headDim, heads * headDim)
                                }
                            }
                        }
                        for (merged, transposedGradient, depth) in [(mergedKey, keyGradientT, headDim),
                                                                    (mergedValue, valueGradientT, valueDim)] {
                            guard let merged else { continue }
                            let head = merged.mutableElements + (b * keys * heads + h) * depth
                            for j in 0..<keys {
                                for d in 0..<depth { head[j * heads * depth + d] = transposedGradient[d * keyStride + j] }
                            }
                        }
                    }
                }
            }
            let toHeads = { (merged: Tensor?) in merged?.permuted([0, 2, 1, 3]) }
            return (toHeads(mergedQuery), toHeads(mergedKey), toHeads(mergedValue))
        }
    }

    /// One (batch, head) matrix of a [batch, heads, rows, columns] tensor as BLAS reads it (transposed: the
    /// [columns, rows] transpose). A layout BLAS cannot read is made dense first.
    private struct HeadOperand {
        let tensor: Tensor
        let layout: BLASMatrix
        let rowStride: Int, columnStride: Int

        init(_ source: Tensor, transposed: Bool = false) {
            let (rows, columns) = (source.shape[2], source.shape[3])
            func reading(_ t: Tensor) -> BLASMatrix? {
                transposed
                    ? BLASMatrix(rows: columns, columns: rows, rowStride: t.strides[3], columnStride: t.strides[2])
                    : BLASMatrix(rows: rows, columns: columns, rowStride: t.strides[2], columnStride: t.strides[3])
            }
            let readable = reading(source) != nil ? source : source.copied()
            tensor = readable
            layout = reading(readable)!
            (rowStride, columnStride) = (readable.strides[2], readable.strides[3])
        }

        /// The matrix of (b, h), starting at row `row` of the untransposed tensor.
        func matrix(_ b: Int, _ h: Int, row: Int = 0) -> UnsafePointer<Float> {
            tensor.elements + b * tensor.strides[0] + h * tensor.strides[1] + row * rowStride
        }
    }

    /// [batch, tokens, heads·headDim] → [batch, heads, tokens, headDim] (a view).
    public static func splitHeads(_ x: Tensor, heads: Int) -> Tensor {
        let (batch, tokens, width) = (x.shape[0], x.shape[1], x.shape[2])
        return x.reshaped([batch, tokens, heads, width / heads]).permuted([0, 2, 1, 3])
    }

    /// [batch, heads, tokens, headDim] → [batch, tokens, heads·headDim] (a view of attention's own output).
    public static func mergeHeads(_ x: Tensor) -> Tensor {
        let (batch, heads, tokens, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return x.permuted([0, 2, 1, 3]).contiguous().reshaped([batch, tokens, heads * headDim])
    }
}

private extension Tensor {
    /// Rows of the last axis made unit-stride (a copy only when they are not), for per-row dot products.
    func contiguousHeads() -> Tensor { strides[3] == 1 ? self : copied() }

    /// The address of row (b, h, row) of a rank-4 tensor whose last axis has unit stride.
    func element(_ b: Int, _ h: Int, _ row: Int) -> UnsafePointer<Float> {
        elements + b * strides[0] + h * strides[1] + row * strides[2]
    }
}
