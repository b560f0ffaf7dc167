// 2-D convolution (PyTorch's conv2d, cross-correlation) by im2col + GEMM. For each image and group, the input
// patches under every output pixel are unrolled into a [C/groups·kh·kw, pixels] column matrix, and the
// weights [O/groups, C/groups·kh·kw] multiply it in one sgemm straight into the output planes. 1×1 stride-1
// convolutions need no unrolling: the input planes already are that matrix.

/// A (height, width) pair for strides, padding and dilation; an integer literal means the same value for both.
public struct SpatialPair: Sendable, Equatable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) { self.init(value, value) }

    public var description: String { "(\(height), \(width))" }
}

extension Tensor {
    /// The column buffer is tiled over output rows to stay under this many elements (16 MiB). Unbounded, VAE
    /// convs at 512×512 would unroll to over a gigabyte (measured on SD1.5's 320-channel 3×3 conv: 64 MiB tiles
    /// ~40% slower than 16 MiB ones, mostly page faults then; 4 MiB no faster). The buffer comes from the
    /// `BufferPool`, so every later convolution with the same tile size reuses it.
    static let im2colElementBudget = 4 << 20

    /// input [N, C, H, W] ⋆ weight [O, C/groups, kh, kw] (+ bias [O]) → [N, O, H', W'] with
    /// H' = (H + 2·padding − dilation·(kh − 1) − 1) / stride + 1, and likewise W'.
    /// `residual` (broadcastable to the output) is added in the same pass: it is written into the output first
    /// and the GEMM adds onto it, so a skip connection or a per-sample shift costs no extra pass or buffer.
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                              stride: SpatialPair = 1, padding: SpatialPair = 0, dilation: SpatialPair = 1,
                              groups: Int = 1, adding residual: Tensor? = nil) -> Tensor {
        conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
               groups: groups, columnBudget: im2colElementBudget, adding: residual)
    }

    /// The value a GEMM-computed layer output starts from before the product is added onto it (beta = 1):
    /// bias (laid out by `biasShape`, broadcast) plus `residual` (broadcast), or nil when there is neither.
    static func initialOutput(shape: [Int], bias: Tensor?, biasShape: [Int], residual: Tensor?) -> Tensor? {
        let biasView = bias.map { $0.detached().reshaped(biasShape).expanded(to: shape) }
        let residualView = residual.map { $0.detached().expanded(to: shape) }
        switch (biasView, residualView) {
        case (nil, nil): return nil
        case (let view?, nil), (nil, let view?): return view.copied()
        case (let biasView?, let residualView?):
            return combineElements(residualView, biasView, op: "residual + bias") { $0 + $1 }
        }
    }

    /// `result`, the convolution of `input` by `weight` (+ `bias`) however it was computed, recorded with its
    /// gradients: the bias's is the sum of the output gradient over batch and pixels; the input's is the
    /// transposed convolution (GEMM with the weight, then patches folded back, summing overlaps); the weight's is
    /// the output gradient times the input's patches. The input is saved only when the weight needs a gradient.
    /// A `residual` added into the output gets the output gradient (summed to its shape). With `oneDNN`, the
    /// input's gradient runs there at its precision (with the layer's weight cache) when oneDNN can run it.
    static func recordingConvolution(_ result: Tensor, input: Tensor, weight: Tensor, bias: Tensor?,
                                     stride: SpatialPair, padding: SpatialPair, dilation: SpatialPair,
                                     groups: Int, columnBudget: Int, residual: Tensor? = nil,
                                     oneDNN: (precision: ComputePrecision, weights: OneDNNWeightCache)? = nil) -> Tensor {
        let operands = [input, weight] + (bias.map { [$0] } ?? []) + (residual.map { [$0] } ?? [])
        guard operands.contains(where: \.requiresGradient) else { return result }
        let inputShape = input.shape, residualShape = residual?.shape
        let savedWeight = weight.detached()
        let savedInput = weight.requiresGradient ? input.detached() : nil
        let (needsInput, needsBias) = (input.requiresGradient, bias?.requiresGradient ?? false)
        let (hasBias, needsResidual) = (bias != nil, residual?.requiresGradient ?? false)
        return result.recorded(from: operands) { gradient in
            let geometry = ConvolutionGeometry(
                channels: inputShape[1] / groups, height: inputShape[2], width: inputShape[3],
                kernelHeight: savedWeight.shape[2], kernelWidth: savedWeight.shape[3],
                stride: stride, padding: padding, dilation: dilation)
            let g = gradient.contiguous()
            // oneDNN's backward-data convolution exists for what oneDNN ran forward (groups 1, no dilation).
            let oneDNNInputGradient = needsInput && groups == 1 && dilation == 1 ? oneDNN.flatMap { oneDNN in
                oneDNNConv2dInputGradient(g, weight: savedWeight, inputShape: inputShape, stride: stride,
                                          padding: padding, precision: oneDNN.precision, weightCache: oneDNN.weights)
            } : nil
            var gradients: [Tensor?] = [
                needsInput ? oneDNNInputGradient ?? convolutionInputGradient(
                    g, weight: oneDNN?.weights.floatWeights(savedWeight) ?? savedWeight, inputShape: inputShape,
                    geometry: geometry, groups: groups, columnBudget: columnBudget) : nil,
                savedInput.map { convolutionWeightGradient(g, input: $0, weightShape: savedWeight.shape,
                                                           geometry: geometry, groups: groups, columnBudget: columnBudget) },
            ]
            if hasBias { gradients.append(needsBias ? g.sum(axes: [0, 2, 3]) : nil) }
            if let residualShape { gradients.append(needsResidual ? g.summed(toShape: residualShape) : nil) }
            return gradients
        }
    }

    /// ∂L/∂input of a convolution from ∂L/∂output (dense): per image and group, Wᵀ·G gives each patch's
    /// gradient, folded back onto the input plane (col2im).
    private static func convolutionInputGradient(_ gradient: Tensor, weight: Tensor, inputShape: [Int],
                                                 geometry: ConvolutionGeometry, groups: Int, columnBudget: Int) -> Tensor {
        let (batch, channels) = (inputShape[0], inputShape[1])
        let outChannels = weight.shape[0]
        let (groupChannels, groupOutChannels) = (channels / groups, outChannels / groups)
        let (patchLength, planeSize) = (geometry.patchLength, geometry.height * geometry.width)
        let pixels = geometry.outputHeight * geometry.outputWidth
        let result = Tensor.zeros(inputShape)
        let w = weight.contiguous()
        let output = result.mutableElements
        let weightTransposed = BLASMatrix(rows: patchLength, columns: groupOutChannels, rowStride: 1,
                                          columnStride: patchLength)!
        withExtendedLifetime((w.storage, gradient.storage)) {
            if geometry.isPointwise {
                for image in 0..<batch {
                    for group in 0..<groups {
                        sgemm(m: groupChannels, n: pixels, k: groupOutChannels,
                              a: w.elements + group * groupOutChannels * patchLength, weightTransposed,
                              b: gradient.elements + (image * outChannels + group * groupOutChannels) * pixels,
                              BLASMatrix(rowMajorWithColumns: pixels),
                              c: output + (image * channels + group * groupChannels) * planeSize, ldc: pixels, beta: 0)
                    }
                }
                return
            }
            geometry.forEachTile(batch: batch, groups: groups, columnBudget: columnBudget) { image, group, rows, columns in
                let groupGradient = gradient.elements + (image * outChannels + group * groupOutChannels) * pixels
                let groupInput = output + (image * channels + group * groupChannels) * planeSize
                let tilePixels = rows.count * geometry.outputWidth
                // The tile's columns of G are a sub-matrix with leading dimension `pixels`.
                sgemm(m: patchLength, n: tilePixels, k: groupOutChannels,
                      a: w.elements + group * groupOutChannels * patchLength, weightTransposed,
                      b: groupGradient + rows.lowerBound * geometry.outputWidth,
                      BLASMatrix(rows: groupOutChannels, columns: tilePixels, rowStride: pixels, columnStride: 1)!,
                      c: columns, ldc: tilePixels, beta: 0)
                geometry.foldPatches(columns, outputRows: rows, into: groupInput)
            }
        }
        return result
    }

    /// ∂L/∂weight of a convolution from ∂L/∂output (dense): Σ over images of G·patchesᵀ, per group.
    private static func convolutionWeightGradient(_ gradient: Tensor, input: Tensor, weightShape: [Int],
                                                  geometry: ConvolutionGeometry, groups: Int, columnBudget: Int) -> Tensor {
        let (batch, channels) = (input.shape[0], input.shape[1])
        let outChannels = weightShape[0]
        let (groupChannels, groupOutChannels) = (channels / groups, outChannels / groups)
        let (patchLength, planeSize) = (geometry.patchLength, geometry.height * geometry.width)
        let pixels = geometry.outputHeight * geometry.outputWidth
        let result = Tensor.zeros(weightShape)
        let x = input.contiguous()
        let output = result.mutableElements
        withExtendedLifetime((x.storage, gradient.storage)) {
            if geometry.isPointwise {
                for image in 0..<batch {
                    for group in 0..<groups {
                        let planes = x.elements + (image * channels + group * groupChannels) * planeSize
                        sgemm(m: groupOutChannels, n: groupChannels, k: pixels,
                              a: gradient.elements + (image * outChannels + group * groupOutChannels) * pixels,
                              BLASMatrix(rowMajorWithColumns: pixels),
                              b: planes, BLASMatrix(rows: pixels, columns: groupChannels, rowStride: 1, columnStride: pixels)!,
                              c: output + group * groupOutChannels * patchLength, ldc: patchLength, beta: 1)
                    }
                }
                return
            }
            geometry.forEachTile(batch: batch, groups: groups, columnBudget: columnBudget) { image, group, rows, columns in
                let groupInput = x.elements + (image * channels + group * groupChannels) * planeSize
                let groupGradient = gradient.elements + (image * outChannels + group * groupOutChannels) * pixels
                let tilePixels = rows.count * geometry.outputWidth
                geometry.unrollPatches(of: groupInput, outputRows: rows, into: columns)
                sgemm(m: groupOutChannels, n: patchLength, k: tilePixels,
                      a: groupGradient + rows.lowerBound * geometry.outputWidth,
                      BLASMatrix(rows: groupOutChannels, columns: tilePixels, rowStride: pixels, columnStride: 1)!,
                      b: columns, BLASMatrix(rows: tilePixels, columns: patchLength, rowStride: 1, columnStride: tilePixels)!,
                      c: output + group * groupOutChannels * patchLength, ldc: patchLength, beta: 1)
            }
        }
        return result
    }

    /// `conv2d` with the column buffer limited to `columnBudget` elements (tests force tiling with a small one).
    static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: SpatialPair, padding: SpatialPair,
                       dilation: SpatialPair, groups: Int, columnBudget: Int, adding residual: Tensor? = nil) -> Tensor {
        let result = convolutionValues(input, weight: weight, bias: bias, stride: stride, padding: padding,
                                       dilation: dilation, groups: groups, columnBudget: columnBudget, residual: residual)
        return recordingConvolution(result, input: input, weight: weight, bias: bias, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups, columnBudget: columnBudget,
                                    residual: residual)
    }

    private static func convolutionValues(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: SpatialPair,
                                          padding: SpatialPair, dilation: SpatialPair, groups: Int,
                                          columnBudget: Int, residual: Tensor?) -> Tensor {
        let shapes = "input \(input.shape), weight \(weight.shape)"
        precondition(input.rank == 4 && weight.rank == 4, "conv2d: \(shapes) must both have 4 axes")
        let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (outChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && channels % groups == 0 && outChannels % groups == 0
                     && weight.shape[1] == channels / groups,
                     "conv2d: \(shapes) do not fit groups = \(groups)")
        precondition(stride.height > 0 && stride.width > 0 && dilation.height > 0 && dilation.width > 0
                     && padding.height >= 0 && padding.width >= 0,
                     "conv2d: invalid stride \(stride), padding \(padding) or dilation \(dilation)")
        if let bias { precondition(bias.shape == [outChannels], "conv2d: bias \(bias.shape) does not match \(shapes)") }
        let geometry = ConvolutionGeometry(
            channels: channels / groups, height: height, width: width,
            kernelHeight: kernelHeight, kernelWidth: kernelWidth,
            stride: stride, padding: padding, dilation: dilation)
        precondition(geometry.outputHeight > 0 && geometry.outputWidth > 0,
                     "conv2d: \(shapes) with padding \(padding), dilation \(dilation) leave no output pixels")

        let outputShape = [batch, outChannels, geometry.outputHeight, geometry.outputWidth]
        let pixels = geometry.outputHeight * geometry.outputWidth
        let initial = initialOutput(shape: outputShape, bias: bias, biasShape: [1, outChannels, 1, 1], residual: residual)
        let result = initial ?? Tensor(uninitializedShape: outputShape)
        guard result.elementCount > 0 else { return result }
        let beta: Float = initial == nil ? 0 : 1
        let x = input.contiguous(), w = weight.contiguous()
        let (groupChannels, groupOutChannels) = (channels / groups, outChannels / groups)
        let patchLength = geometry.patchLength
        let weightLayout = BLASMatrix(rowMajorWithColumns: patchLength)
        let output = result.mutableElements

        withExtendedLifetime((x.storage, w.storage)) {
            if geometry.isPointwise {
                for image in 0..<batch {
                    for group in 0..<groups {
                        sgemm(m: groupOutChannels, n: pixels, k: groupChannels,
                              a: w.elements + group * groupOutChannels * patchLength, weightLayout,
                              b: x.elements + (image * channels + group * groupChannels) * height * width,
                              BLASMatrix(rowMajorWithColumns: pixels),
                              c: output + (image * outChannels + group * groupOutChannels) * pixels, ldc: pixels,
                              beta: beta)
                    }
                }
                return
            }
            geometry.forEachTile(batch: batch, groups: groups, columnBudget: columnBudget) { image, group, rows, columns in
                let groupInput = x.elements + (image * channels + group * groupChannels) * height * width
                let groupOutput = output + (image * outChannels + group * groupOutChannels) * pixels
                let tilePixels = rows.count * geometry.outputWidth
                geometry.unrollPatches(of: groupInput, outputRows: rows, into: columns)
                sgemm(m: groupOutChannels, n: tilePixels, k: patchLength,
                      a: w.elements + group * groupOutChannels * patchLength, weightLayout,
                      b: columns, BLASMatrix(rowMajorWithColumns: tilePixels),
                      c: groupOutput + rows.lowerBound * geometry.outputWidth, ldc: pixels, beta: beta)
            }
        }
        return result
    }
}

/// Sizes of one group's convolution and the im2col unrolling for it.
struct ConvolutionGeometry {
    let channels, height, width, kernelHeight, kernelWidth: Int
    let stride, padding, dilation: SpatialPair

    var outputHeight: Int { (height + 2 * padding.height - dilation.height * (kernelHeight - 1) - 1) / stride.height + 1 }
    var outputWidth: Int { (width + 2 * padding.width - dilation.width * (kernelWidth - 1) - 1) / stride.width + 1 }
    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    var patchLength: Int { channels * kernelHeight * kernelWidth }
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0
    }

    /// Writes the column matrix for output rows `outputRows`: row (c, i, j) holds, for every output pixel
    /// (y, x) of those rows, input[c, y·stride + i·dilation − padding, x·stride + j·dilation − padding], or 0 in
    /// the padding. `input` points at this group's first channel plane. Rows are filled in parallel chunks.
    /// Calls `body(image, group, output rows, columns)` for every tile of output rows of every image and group,
    /// with one scratch buffer for a tile's im2col columns: the loop the forward pass and both gradients share.
    func forEachTile(batch: Int, groups: Int, columnBudget: Int,
                     _ body: (Int, Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let rowsPerTile = outputRowsPerTile(columnBudget: columnBudget)
        let columnCount = patchLength * rowsPerTile * outputWidth
        let columns = BufferPool.shared.allocate(floats: columnCount)
        defer { BufferPool.shared.deallocate(columns, floats: columnCount) }
        for image in 0..<batch {
            for group in 0..<groups {
                for firstRow in Swift.stride(from: 0, to: outputHeight, by: rowsPerTile) {
                    body(image, group, firstRow..<Swift.min(firstRow + rowsPerTile, outputHeight), columns)
                }
            }
        }
    }

    /// Output rows per im2col tile, so a tile's columns hold at most `columnBudget` elements (at least one row).
    func outputRowsPerTile(columnBudget: Int) -> Int {
        Swift.max(1, Swift.min(outputHeight, columnBudget / Swift.max(patchLength * outputWidth, 1)))
    }

    /// The inverse of `unrollPatches` for gradients (col2im): adds each patch entry of `columns` back onto the
    /// input element it was read from; entries read from padding are dropped. Parallel over channels, since
    /// patches overlap within a channel's plane.
    func foldPatches(_ columns: UnsafePointer<Float>, outputRows: Range<Int>, into input: UnsafeMutablePointer<Float>) {
        let tilePixels = outputRows.count * outputWidth
        Parallel.forEachChunk(count: channels, minimumChunk: 1) { channelRange in
            for channel in channelRange {
                let plane = input + channel * height * width
                for kernelRow in 0..<kernelHeight {
                    for kernelColumn in 0..<kernelWidth {
                        let patchRow = (channel * kernelHeight + kernelRow) * kernelWidth + kernelColumn
                        let shift = kernelColumn * dilation.width - padding.width
                        let lastInside = width - 1 - shift
                        let end = lastInside < 0 ? 0 : Swift.min(outputWidth, lastInside / stride.width + 1)
                        let start = Swift.min(shift >= 0 ? 0 : (-shift + stride.width - 1) / stride.width, end)
                        var source = columns + patchRow * tilePixels
                        for outputRow in outputRows {
                            defer { source += outputWidth }
                            let inputRow = outputRow * stride.height + kernelRow * dilation.height - padding.height
                            guard (0..<height).contains(inputRow) else { continue }
                            let destination = plane + inputRow * width + shift
                            for x in start..<end { destination[x * stride.width] += source[x] }
                        }
                    }
                }
            }
        }
    }

    func unrollPatches(of input: UnsafePointer<Float>, outputRows: Range<Int>, into columns: UnsafeMutablePointer<Float>) {
        let tilePixels = outputRows.count * outputWidth
        let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(tilePixels, 1))
        Parallel.forEachChunk(count: patchLength, minimumChunk: minimumRows) { patchRows in
            for patchRow in patchRows {
                let channel = patchRow / (kernelHeight * kernelWidth)
                let kernelRow = (patchRow / kernelWidth) % kernelHeight
                let kernelColumn = patchRow % kernelWidth
                let plane = input + channel * height * width
                // Output columns whose input column lies inside the image: x·stride + shift ∈ [0, width).
                let shift = kernelColumn * dilation.width - padding.width
                let lastInside = width - 1 - shift
                let end = lastInside < 0 ? 0 : Swift.min(outputWidth, lastInside / stride.width + 1)
                let start = Swift.min(shift >= 0 ? 0 : (-shift + stride.width - 1) / stride.width, end)
                var destination = columns + patchRow * tilePixels
                for outputRow in outputRows {
                    defer { destination += outputWidth }
                    let inputRow = outputRow * stride.height + kernelRow * dilation.height - padding.height
                    guard (0..<height).contains(inputRow) else {
                        destination.update(repeating: 0, count: outputWidth)
                        continue
                    }
                    destination.update(repeating: 0, count: start)
                    (destination + end).update(repeating: 0, count: outputWidth - end)
                    let source = plane + inputRow * width + shift
                    if stride.width == 1 {
                        (destination + start).update(from: source + start, count: end - start)
                    } else {
                        for x in start..<end { destination[x] = source[x * stride.width] }
                    }
                }
            }
        }
    }
}
