import CBLAS

// Matrix products on OpenBLAS's cblas_sgemm. A matrix view whose layout BLAS can read directly — row-major,
// or a plain transpose of row-major — is passed with the matching transpose flag and leading dimension instead
// of being copied; only other layouts are made dense first.

/// A matrix as cblas_sgemm reads it: a base address, whether it is stored transposed, and its leading dimension.
struct BLASMatrix {
    let transpose: CBLAS_TRANSPOSE
    let leadingDimension: Int

    /// The BLAS reading of a `rows × columns` view with the given strides, or nil when BLAS cannot read it.
    init?(rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
        if columnStride == 1 && (rows == 1 || rowStride >= Swift.max(columns, 1)) {
            transpose = CblasNoTrans
            leadingDimension = rows == 1 ? Swift.max(columns, 1) : rowStride
        } else if rowStride == 1 && (columns == 1 || columnStride >= Swift.max(rows, 1)) {
            transpose = CblasTrans
            leadingDimension = columns == 1 ? Swift.max(rows, 1) : columnStride
        } else {
            return nil
        }
    }

    /// A dense row-major matrix with `columns` columns.
    init(rowMajorWithColumns columns: Int) {
        transpose = CblasNoTrans
        leadingDimension = Swift.max(columns, 1)
    }
}

/// C (row-major, leading dimension `ldc`) = A·B + beta·C for an m×k A and a k×n B.
func sgemm(m: Int, n: Int, k: Int,
           a: UnsafePointer<Float>, _ layoutA: BLASMatrix,
           b: UnsafePointer<Float>, _ layoutB: BLASMatrix,
           c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
    cblas_sgemm(CblasRowMajor, layoutA.transpose, layoutB.transpose,
                Int32(m), Int32(n), Int32(k),
                1, a, Int32(layoutA.leadingDimension), b, Int32(layoutB.leadingDimension),
                beta, c, Int32(ldc))
}

extension Tensor {
    /// The last two axes as a BLAS matrix, making the tensor dense first when BLAS cannot read its layout.
    fileprivate func asBLASOperand() -> (tensor: Tensor, layout: BLASMatrix) {
        let rows = shape[rank - 2], columns = shape[rank - 1]
        if let layout = BLASMatrix(rows: rows, columns: columns,
                                   rowStride: strides[rank - 2], columnStride: strides[rank - 1]) {
            return (self, layout)
        }
        return (copied(), BLASMatrix(rowMajorWithColumns: columns))
    }

    /// Strides of the axes before the last two (the batch axes) when broadcast to `batchShape`.
    fileprivate func batchStrides(broadcastTo batchShape: [Int]) -> [Int] {
        let batchAxes = Tensor(storage: storage, shape: Array(shape.dropLast(2)), strides: Array(strides.dropLast(2)),
                               offset: offset)
        return batchAxes.broadcastStrides(to: batchShape, op: "matmul")
    }

    /// Matrix product with PyTorch's `matmul` rules: [.., m, k] · [.., k, n] → [.., m, n] with the batch axes
    /// broadcast; a 1-D first operand is a row vector and a 1-D second operand a column vector (the added axis is
    /// removed from the result).
    public static func matmul(_ first: Tensor, _ second: Tensor) -> Tensor {
        precondition(first.rank >= 1 && second.rank >= 1,
                     "matmul: shapes \(first.shape) and \(second.shape) need at least one axis each")
        let a = first.rank == 1 ? first.unsqueezed(axis: 0) : first
        let b = second.rank == 1 ? second.unsqueezed(axis: 1) : second
        let (m, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (kB, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        precondition(k == kB, "matmul: shapes \(first.shape) and \(second.shape) have inner sizes \(k) and \(kB)")
        let batchShape = broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
        let (savedA, savedB) = (a.detached(), b.detached())
        let (needsA, needsB) = (a.requiresGradient, b.requiresGradient)
        // d(A·B) = dA·B + A·dB: the gradients are G·Bᵀ and Aᵀ·G, summed over the batch axes an operand was
        // broadcast along.
        var result = batchedProduct(a, b, batchShape: batchShape, m: m, n: n, k: k).recorded(from: [a, b]) { gradient in
            [needsA ? matmul(gradient, savedB.transposed()).summed(toShape: savedA.shape) : nil,
             needsB ? matmul(savedA.transposed(), gradient).summed(toShape: savedB.shape) : nil]
        }
        if first.rank == 1 { result = result.squeezed(axis: -2) }
        if second.rank == 1 { result = result.squeezed(axis: -1) }
        return result
    }

    private static func batchedProduct(_ a: Tensor, _ b: Tensor, batchShape: [Int], m: Int, n: Int, k: Int) -> Tensor {
        let batchCount = batchShape.elementCount
        guard k > 0 else { return Tensor.zeros(batchShape + [m, n]) }
        let result = Tensor(uninitializedShape: batchShape + [m, n])
        guard batchCount > 0 && m > 0 && n > 0 else { return result }
        let (matrixA, layoutA) = a.asBLASOperand()
        let (matrixB, layoutB) = b.asBLASOperand()
        let output = result.mutableElements
        let batchStridesB = matrixB.batchStrides(broadcastTo: batchShape)
        withExtendedLifetime((matrixA.storage, matrixB.storage)) {
            // When B is one matrix for every batch entry and A's batch is dense row-major, the whole batch
            // is one tall GEMM: [batch·m, k] · [k, n].
            if batchStridesB.allSatisfy({ $0 == 0 }) && Array(matrixA.shape.dropLast(2)) == batchShape
                && matrixA.isContiguous {
                sgemm(m: batchCount * m, n: n, k: k, a: matrixA.elements, BLASMatrix(rowMajorWithColumns: k),
                      b: matrixB.elements, layoutB, c: output, ldc: n, beta: 0)
                return
            }
            let batchStridesA = matrixA.batchStrides(broadcastTo: batchShape)
            // One GEMM per batch entry, in order; BLAS threads each of them.
            let batches = StridedRows(shape: batchShape,
                                      strides: [batchShape.contiguousStrides, batchStridesA, batchStridesB])
            let (stepOutput, stepA, stepB) = batches.innerStrides
            batches.forEachRow(in: 0..<batches.rowCount) { rowOutput, rowA, rowB in
                for i in 0..<batches.rowLength {
                    sgemm(m: m, n: n, k: k, a: matrixA.elements + rowA + i * stepA, layoutA,
                          b: matrixB.elements + rowB + i * stepB, layoutB,
                          c: output + (rowOutput + i * stepOutput) * m * n, ldc: n, beta: 0)
                }
            }
        }
        return result
    }
}

extension Tensor {
    /// PyTorch's `linear`: input [.., in] · weightᵀ + bias, with weight [out, in] and bias [out]. The weight is
    /// read transposed by BLAS in place, and the bias is written first so the GEMM adds onto it (beta = 1).
    /// `residual` (broadcastable to the output) is written first too, so a skip connection costs no extra pass.
    /// At bf16, or on the oneDNN backend, the product runs on oneDNN (at bf16 `oneDNNWeights` keeps the layer's
    /// bf16 weight copy between calls; without one it is made on every call), and so does the one
    /// giving the input's gradient (at bf16 the output gradient is rounded, the sums stay fp32); the weight's and
    /// bias's gradients are fp32 on OpenBLAS.
    public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, adding residual: Tensor? = nil,
                              backend: ComputeBackend = .openblas, precision: ComputePrecision = .fp32,
                              oneDNNWeights: OneDNNWeightCache? = nil) -> Tensor {
        // Only oneDNN reads a weight cache: the OpenBLAS path (the default, and the hot one) makes none.
        let weightCache = precision == .bf16 || backend == .onednn ? oneDNNWeights ?? OneDNNWeightCache() : nil
        let oneDNNProduct = weightCache.flatMap { cache in
            oneDNNLinear(input.detached(), weight: weight.detached(), bias: bias?.detached(), precision: precision,
                         weightCache: cache)
        }
        let result = oneDNNProduct.map { product in residual.map { product + $0.detached() } ?? product }
            ?? linearValues(input.detached(), weight: weightCache?.floatWeights(weight.detached()) ?? weight.detached(),
                            bias: bias?.detached(), residual: residual?.detached())
        let operands = [input, weight] + (bias.map { [$0] } ?? []) + (residual.map { [$0] } ?? [])
        guard operands.contains(where: \.requiresGradient) else { return result }
        // Saved: the weight for the input's gradient, the input only when the weight's gradient is wanted.
        let inputShape = input.shape, (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        let savedWeight = input.requiresGradient ? weight.detached() : nil
        let savedInput = weight.requiresGradient ? input.detached() : nil
        let (hasBias, needsBias) = (bias != nil, bias?.requiresGradient ?? false)
        let (residualShape, needsResidual) = (residual?.shape, residual?.requiresGradient ?? false)
        return result.recorded(from: operands) { gradient in
            let rows = gradient.reshaped([-1, outFeatures])
            var gradients: [Tensor?] = [
                savedWeight.map { weight in
                    let product = weightCache.flatMap { cache in
                        oneDNNLinearInputGradient(rows, weight: weight, precision: precision, weightCache: cache)
                    }
                    return (product ?? matmul(rows, weightCache?.floatWeights(weight) ?? weight)).reshaped(inputShape)
                },
                savedInput.map { matmul(rows.transposed(), $0.reshaped([-1, inFeatures])) },
            ]
            if hasBias { gradients.append(needsBias ? rows.sum(axis: 0) : nil) }
            if let residualShape { gradients.append(needsResidual ? gradient.summed(toShape: residualShape) : nil) }
            return gradients
        }
    }

    private static func linearValues(_ input: Tensor, weight: Tensor, bias: Tensor?, residual: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && input.rank >= 1 && input.shape.last == weight.shape[1],
                     "linear: input \(input.shape) does not match weight \(weight.shape) ([out, in])")
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        if let bias {
            precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) does not match weight \(weight.shape)")
        }
        let rows = input.shape.dropLast().reduce(1, *)
        let dense = input.contiguous()
        let outputShape = Array(input.shape.dropLast()) + [outFeatures]
        let initial = initialOutput(shape: outputShape, bias: bias, biasShape: [outFeatures], residual: residual)
        guard inFeatures > 0 else { return initial ?? Tensor.zeros(outputShape) }
        let result = initial?.reshaped([rows, outFeatures]) ?? Tensor(uninitializedShape: [rows, outFeatures])
        guard rows > 0 && outFeatures > 0 else { return result.reshaped(outputShape) }
        let (matrixB, layoutB) = weight.transposed().asBLASOperand()
        withExtendedLifetime((dense.storage, matrixB.storage)) {
            sgemm(m: rows, n: outFeatures, k: inFeatures, a: dense.elements, BLASMatrix(rowMajorWithColumns: inFeatures),
                  b: matrixB.elements, layoutB, c: result.mutableElements, ldc: outFeatures, beta: initial == nil ? 0 : 1)
        }
        return result.reshaped(outputShape)
    }
}
