extension Tensor {
    /// Nearest-neighbour upsampling of [N, C, H, W] by an integer `scale` → [N, C, H·scale, W·scale]
    /// (PyTorch's `interpolate(mode="nearest", scale_factor=scale)`; the UNet uses scale 2).
    public func upsampledNearest(scale: Int = 2) -> Tensor {
        precondition(rank == 4 && scale >= 1, "upsampleNearest: shape \(shape) must be [N, C, H, W], scale \(scale) ≥ 1")
        let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
        let (outputHeight, outputWidth) = (height * scale, width * scale)
        let dense = contiguous()
        let result = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight, outputWidth])
        let input = dense.elements, output = result.mutableElements
        withExtendedLifetime(dense.storage) {
            let minimumPlanes = Swift.max(1, Parallel.elementGrain / Swift.max(outputHeight * outputWidth, 1))
            Parallel.forEachChunk(count: planes, minimumChunk: minimumPlanes) { chunk in
                for plane in chunk {
                    for row in 0..<height {
                        let source = input + (plane * height + row) * width
                        let firstCopy = output + (plane * outputHeight + row * scale) * outputWidth
                        for x in 0..<width {
                            (firstCopy + x * scale).update(repeating: source[x], count: scale)
                        }
                        for copy in 1..<scale {  // the other output rows repeat the first
                            (firstCopy + copy * outputWidth).update(from: firstCopy, count: outputWidth)
                        }
                    }
                }
            }
        }
        // Each input pixel fed a scale × scale block: its gradient is the block's sum.
        let inputShape = shape
        return result.recorded(from: [self]) { gradient in
            [gradient.reshaped([planes, height, scale, width, scale]).sum(axes: [2, 4]).reshaped(inputShape)]
        }
    }
}
