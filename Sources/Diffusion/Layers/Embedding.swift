/// PyTorch's `nn.Embedding`: rows of a [count, width] table looked up by index.
public struct Embedding: Sendable {
    public var weight: Tensor

    public init(_ parameters: ScopedParameters, count: Int, width: Int, key: String = "weight") throws {
        weight = try parameters.tensor(key, shape: [count, width])
    }

    /// An embedding over a given [count, width] table.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: table \(weight.shape) must be [count, width]")
        self.weight = weight
    }

    /// Rows for `indices` laid out as `shape` → shape + [width]. Indices must lie in the table.
    public func callAsFunction(_ indices: [Int], shape: [Int]) -> Tensor {
        let (count, width) = (weight.shape[0], weight.shape[1])
        precondition(indices.allSatisfy { (0..<count).contains($0) }, "Embedding: index outside 0..<\(count)")
        let table = weight.contiguous()
        let rowsLookedUp = Tensor(shape: shape + [width]) { output in
            table.withUnsafeBufferPointer { rows in
                for (position, index) in indices.enumerated() {
                    for column in 0..<width { output[position * width + column] = rows[index * width + column] }
                }
            }
        }
        // The table's gradient: each looked-up row's gradient added onto its row (repeated indices add up).
        return rowsLookedUp.recorded(from: [weight]) { gradient in
            var tableGradient = Tensor.zeros([count, width])
            let rowGradients = gradient.contiguous().toArray()
            tableGradient.withUnsafeMutableBufferPointer { rows in
                for (position, index) in indices.enumerated() {
                    for column in 0..<width { rows[index * width + column] += rowGradients[position * width + column] }
                }
            }
            return [tableGradient]
        }
    }
}
