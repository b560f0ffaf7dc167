/// Scaled dot-product attention, softmax(q kᵀ / √d + mask) v, over [batch, heads, tokens, headDim] tensors.
/// Queries are processed in chunks so the score matrix never exceeds `scoreElementBudget` elements, which keeps
/// SD1.5 at 512 px (4096 tokens) within a few hundred MiB per call.
public enum Attention {
    public static let scoreElementBudget = 1 << 24

    /// `causal`: position i attends to positions ≤ i only (CLIP's text transformer).
    public static func scaledDotProduct(query: Tensor, key: Tensor, value: Tensor, causal: Bool = false) -> Tensor {
        precondition(query.rank == 4 && key.rank == 4 && value.rank == 4,
                     "attention: query \(query.shape), key \(key.shape), value \(value.shape) need 4 axes")
        let (batch, heads, queries, headDim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
        let keys = key.shape[2]
        let scale = 1 / Float(headDim).squareRoot()
        let keyT = key.transposed()
        let chunk = Swift.max(1, Swift.min(queries, scoreElementBudget / Swift.max(1, batch * heads * keys)))
        var pieces: [Tensor] = []
        var start = 0
        while start < queries {
            let length = Swift.min(chunk, queries - start)
            var scores = Tensor.matmul(query.narrowed(axis: 2, start: start, length: length), keyT) * scale
            if causal { scores = scores + causalMask(queryStart: start, queries: length, keys: keys) }
            pieces.append(Tensor.matmul(scores.softmax(axis: 3), value))
            start += length
        }
        return pieces.count == 1 ? pieces[0] : Tensor.concat(pieces, axis: 2)
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
