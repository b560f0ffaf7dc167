/// Scaled dot-product attention, softmax(q kᵀ / √d + mask) v, over [batch, heads, tokens, headDim] tensors.
/// Queries are processed in chunks so the score matrix never exceeds `scoreElementBudget` elements, which keeps
/// SD1.5 at 512 px (4096 tokens) within a few hundred MiB per call.
public enum Attention {
    /// 16 MiB of scores per chunk: under glibc's largest mmap threshold, so chunk buffers are reused from the
    /// heap rather than mapped afresh (see `ComputeEnvironment.keepFreedMemoryForReuse`).
    public static let scoreElementBudget = 1 << 22

    /// `causal`: position i attends to positions ≤ i only (CLIP's text transformer).
    ///
    /// The gradient is recomputed chunk by chunk in the same way (flash-attention style): only q, k, v and the
    /// output are saved, never the probabilities, so training memory stays bounded like inference memory.
    public static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, causal: Bool = false) -> Tensor {
        scaledDotProduct(query: query, key: key, value: value, causal: causal, scoreBudget: scoreElementBudget)
    }

    /// With the score budget as a parameter, so tests can make several chunks out of small shapes.
    static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, causal: Bool, scoreBudget: Int) -> Tensor {
        precondition(query.rank == 4 && key.rank == 4 && value.rank == 4,
                     "attention: query \(query.shape), key \(key.shape), value \(value.shape) need 4 axes")
        let (q, k, v) = (query.detached(), key.detached(), value.detached())
        let chunks = QueryChunks(query: q, key: k, causal: causal, scoreBudget: scoreBudget)
        let output = chunks.concatenated { chunk in Tensor.matmul(chunks.probabilities(chunk), v) }
        let savedOutput = output.detached()
        let needs = [query.requiresGradient, key.requiresGradient, value.requiresGradient]
        return output.recorded(from: [query, key, value]) { gradient in
            // With P = softmax(S), S = q kᵀ·scale, O = P v:  dV = Pᵀ dO,  dP = dO vᵀ,
            // dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = dS k·scale,  dK = dSᵀ q·scale.
            let rowDot = (gradient * savedOutput).sum(axis: 3, keepDims: true)
            var gradientKey = needs[1] ? Tensor.zeros(k.shape) : nil
            var gradientValue = needs[2] ? Tensor.zeros(v.shape) : nil
            let gradientQuery = chunks.concatenated { chunk in
                let probabilities = chunks.probabilities(chunk)
                let outputGradient = gradient.narrowed(axis: 2, start: chunk.lowerBound, length: chunk.count)
                if let accumulated = gradientValue {
                    gradientValue = accumulated + Tensor.matmul(probabilities.transposed(), outputGradient)
                }
                // dS without the scale; the scale goes onto the small [tokens, headDim] factors instead.
                let scoreGradient = probabilities * (Tensor.matmul(outputGradient, v.transposed())
                    - rowDot.narrowed(axis: 2, start: chunk.lowerBound, length: chunk.count))
                if let accumulated = gradientKey {
                    let queries = chunks.scaledQuery.narrowed(axis: 2, start: chunk.lowerBound, length: chunk.count)
                    gradientKey = accumulated + Tensor.matmul(scoreGradient.transposed(), queries)
                }
                return Tensor.matmul(scoreGradient, k) * chunks.scale
            }
            return [needs[0] ? gradientQuery : nil, gradientKey, gradientValue]
        }
    }

    /// The query axis cut into chunks whose score matrices hold at most `scoreBudget` elements.
    private struct QueryChunks {
        /// q / √d: scaling the [tokens, headDim] queries costs far less than scaling the scores.
        let scaledQuery: Tensor, keyTransposed: Tensor
        let causal: Bool
        let scale: Float
        let chunkLength: Int

        init(query: Tensor, key: Tensor, causal: Bool, scoreBudget: Int) {
            let (batch, heads, queries, headDim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
            let keys = key.shape[2]
            scale = 1 / Float(headDim).squareRoot()
            scaledQuery = query * scale
            keyTransposed = key.transposed()
            self.causal = causal
            chunkLength = Swift.max(1, Swift.min(queries, scoreBudget / Swift.max(1, batch * heads * keys)))
        }

        /// softmax(q kᵀ / √d + mask) for the queries in `chunk`: [batch, heads, chunk, keys].
        func probabilities(_ chunk: Range<Int>) -> Tensor {
            var scores = Tensor.matmul(scaledQuery.narrowed(axis: 2, start: chunk.lowerBound, length: chunk.count),
                                       keyTransposed)
            if causal {
                scores = scores + causalMask(queryStart: chunk.lowerBound, queries: chunk.count,
                                             keys: keyTransposed.shape[3])
            }
            return scores.softmax(axis: 3)
        }

        /// `body`'s results for each chunk in order, concatenated along the query axis.
        func concatenated(_ body: (Range<Int>) -> Tensor) -> Tensor {
            let queries = scaledQuery.shape[2]
            let pieces = Swift.stride(from: 0, to: queries, by: chunkLength).map {
                body($0..<Swift.min($0 + chunkLength, queries))
            }
            return pieces.count == 1 ? pieces[0] : Tensor.concat(pieces, axis: 2)
        }
    }

    /// −∞ above the diagonal (keys after the query's own position), 0 elsewhere: [queries, keys].
    static func causalMask(queryStart: Int, queries: Int, keys: Int) -> Tensor {
        Tensor(shape: [queries, keys]) { mask in
            for row in 0..<queries {
                for column in 0..<keys {
                    mask[row * keys + column] = column > queryStart + row ? -Float.infinity : 0
                }
            }
        }
    }

    /// [batch, tokens, heads·headDim] → [batch, heads, tokens, headDim] (a view).
    public static func splitHeads(_ x: Tensor, heads: Int) -> Tensor {
        let (batch, tokens, width) = (x.shape[0], x.shape[1], x.shape[2])
        return x.reshaped([batch, tokens, heads, width / heads]).permuted([0, 2, 1, 3])
    }

    /// [batch, heads, tokens, headDim] → [batch, tokens, heads·headDim].
    public static func mergeHeads(_ x: Tensor) -> Tensor {
        let (batch, heads, tokens, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return x.permuted([0, 2, 1, 3]).contiguous().reshaped([batch, tokens, heads * headDim])
    }
}
