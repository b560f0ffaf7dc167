import CKernels

// Fused normalisations and GEGLU: each is one op with one analytic gradient rule, instead of the ten or so
// generic ops (each a full pass over a fresh buffer) they would be composed of. A normalised row is the group
// of (sample, group) for GroupNorm and one token's features for LayerNorm; its statistics are taken in Double
// in two passes (mean, then squared deviations), so long rows (GroupNorm reduces up to ~10⁶ elements) lose no
// precision. The backward saves only the input and one (mean, 1/σ) pair per row.
//
// With x̂ = (x − μ)·r (r = 1/√(σ² + ε)), y = γ x̂ + β over a row of n elements and dy the incoming gradient:
//   dβ = Σ dy,  dγ = Σ dy·x̂  (over all rows, per channel),
//   dx = r · (γ dy − (1/n) Σ γ dy − x̂ · (1/n) Σ γ dy·x̂)  (sums over the row).

/// Mean and 1/√(variance + ε) of one row, by two passes in Double.
@inline(__always)
func rowStatistics(_ row: UnsafePointer<Float>, _ length: Int, epsilon: Float) -> (mean: Float, inverseDeviation: Float) {
    let mean = sumOfRow(row, length) / Double(length)
    var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
    var i = 0
    while i + 4 <= length {
        let d0 = Double(row[i]) - mean, d1 = Double(row[i + 1]) - mean
        let d2 = Double(row[i + 2]) - mean, d3 = Double(row[i + 3]) - mean
        s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3
        i += 4
    }
    while i < length {
        let d = Double(row[i]) - mean
        s0 += d * d
        i += 1
    }
    let variance = ((s0 + s1) + (s2 + s3)) / Double(length)
    return (Float(mean), Float(1 / (variance + Double(epsilon)).squareRoot()))
}

extension Tensor {
    // MARK: GroupNorm

    /// PyTorch's `group_norm` on [N, C, …] followed, when `followedBySiLU`, by SiLU: statistics per sample over
    /// each group of C / groups channels and all positions, then a per-channel affine transform.
    public static func groupNorm(_ input: Tensor, groups: Int, weight: Tensor, bias: Tensor, epsilon: Float,
                                 followedBySiLU: Bool = false) -> Tensor {
        precondition(input.rank >= 2 && groups > 0 && input.shape[1] % groups == 0,
                     "groupNorm: input \(input.shape) does not split into \(groups) groups")
        let (batch, channels) = (input.shape[0], input.shape[1])
        precondition(weight.shape == [channels] && bias.shape == [channels],
                     "groupNorm: weight \(weight.shape), bias \(bias.shape) do not match input \(input.shape)")
        let x = input.detached().contiguous(), gamma = weight.detached().contiguous(), beta = bias.detached().contiguous()
        let plane = input.elementCount / Swift.max(batch * channels, 1)
        let groupChannels = channels / groups
        let rowCount = batch * groups, rowLength = groupChannels * plane
        let result = Tensor(uninitializedShape: input.shape)
        var statistics = [Float](repeating: 0, count: 2 * rowCount)  // (mean, 1/σ) per row
        let output = result.mutableElements, source = x.elements, g = gamma.elements, b = beta.elements
        statistics.withUnsafeMutableBufferPointer { stats in
            let stats = stats.baseAddress!
            withExtendedLifetime((x.storage, gamma.storage, beta.storage)) {
                Parallel.forEachChunk(count: rowCount, minimumChunk: 1) { rows in
                    for row in rows {
                        let (mean, inverse) = rowStatistics(source + row * rowLength, rowLength, epsilon: epsilon)
                        stats[2 * row] = mean
                        stats[2 * row + 1] = inverse
                        for local in 0..<groupChannels {
                            let channel = (row % groups) * groupChannels + local
                            let scale = g[channel] * inverse, shift = b[channel] - mean * scale
                            let from = source + row * rowLength + local * plane, to = output + row * rowLength + local * plane
                            if followedBySiLU {
                                spm_affine_silu(from, to, plane, scale, shift)
                            } else {
                                transformVectors(from, to, count: plane) { $0 * scale + shift }
                            }
                        }
                    }
                }
            }
        }
        let saved = statistics
        let needs = (input.requiresGradient, weight.requiresGradient, bias.requiresGradient)
        return result.recorded(from: [input, weight, bias]) { gradient in
            let dy = gradient.contiguous()
            let source = x.elements, g = gamma.elements, b = beta.elements
            let inputGradient = needs.0 ? Tensor(uninitializedShape: x.shape) : nil
            // Per (sample, channel): Σ dy·x̂ and Σ dy, reduced over samples afterwards for dγ and dβ.
            var channelSums = [Double](repeating: 0, count: 2 * batch * channels)
            let dx = inputGradient?.mutableElements
            channelSums.withUnsafeMutableBufferPointer { sums in
                let sums = sums.baseAddress!
                withExtendedLifetime((x.storage, gamma.storage, beta.storage, dy.storage)) {
                    let incoming = dy.elements
                    Parallel.forEachChunk(count: rowCount, minimumChunk: 1) { rows in
                        // With SiLU the gradient reaching the affine output is dz·silu′(y): it is written into dx
                        // (turned into dx in the second pass), or into this scratch when dx is not wanted.
                        let scratch = followedBySiLU && dx == nil ? UnsafeMutablePointer<Float>.allocate(capacity: plane) : nil
                        defer { scratch?.deallocate() }
                        for row in rows {
                            let (mean, inverse) = (saved[2 * row], saved[2 * row + 1])
                            let sample = row / groups
                            var (rowSum, rowDotSum) = (0.0, 0.0)  // Σ γ dy and Σ γ dy·x̂ over the row
                            for local in 0..<groupChannels {
                                let channel = (row % groups) * groupChannels + local
                                let start = row * rowLength + local * plane
                                let from = source + start, upstream = incoming + start
                                let scale = g[channel] * inverse, shift = b[channel] - mean * scale
                                let affineGradient: UnsafePointer<Float>
                                if let dx {
                                    if followedBySiLU {
                                        spm_affine_silu_backward(from, upstream, dx + start, plane, scale, shift)
                                    } else {
                                        (dx + start).update(from: upstream, count: plane)
                                    }
                                    affineGradient = UnsafePointer(dx + start)
                                } else if let scratch {
                                    spm_affine_silu_backward(from, upstream, scratch, plane, scale, shift)
                                    affineGradient = UnsafePointer(scratch)
                                } else {
                                    affineGradient = upstream
                                }
                                var (dySum, dyDotSum) = (0.0, 0.0)
                                for i in Swift.stride(from: 0, to: plane, by: FloatVector.scalarCount) {
                                    let count = Swift.min(FloatVector.scalarCount, plane - i)
                                    var v = FloatVector(repeating: 0), d = FloatVector(repeating: 0)
                                    if count == FloatVector.scalarCount {
                                        v = UnsafeRawPointer(from + i).loadUnaligned(as: FloatVector.self)
                                        d = UnsafeRawPointer(affineGradient + i).loadUnaligned(as: FloatVector.self)
                                    } else {
                                        for lane in 0..<count { v[lane] = from[i + lane]; d[lane] = affineGradient[i + lane] }
                                    }
                                    let normalised = (v - mean) * inverse
                                    dySum += Double(d.sum())
                                    dyDotSum += Double((d * normalised).sum())
                                }
                                sums[2 * (sample * channels + channel)] = dyDotSum
                                sums[2 * (sample * channels + channel) + 1] = dySum
                                rowSum += Double(g[channel]) * dySum
                                rowDotSum += Double(g[channel]) * dyDotSum
                            }
                            guard let dx else { continue }
                            let meanTerm = Float(rowSum / Double(rowLength)), dotTerm = Float(rowDotSum / Double(rowLength))
                            for local in 0..<groupChannels {
                                let channel = (row % groups) * groupChannels + local
                                let start = row * rowLength + local * plane
                                let gammaChannel = g[channel]
                                let target = dx + start
                                for i in 0..<plane {
                                    let normalised = (source[start + i] - mean) * inverse
                                    target[i] = inverse * (gammaChannel * target[i] - meanTerm - normalised * dotTerm)
                                }
                            }
                        }
                    }
                }
            }
            func perChannel(_ component: Int) -> Tensor {
                Tensor(shape: [channels]) { out in
                    for channel in 0..<channels {
                        out[channel] = Float((0..<batch).reduce(0.0) { $0 + channelSums[2 * ($1 * channels + channel) + component] })
                    }
                }
            }
            return [inputGradient, needs.1 ? perChannel(0) : nil, needs.2 ? perChannel(1) : nil]
        }
    }

    // MARK: LayerNorm

    /// PyTorch's `layer_norm` over the last axis, with affine `weight` and `bias` [features].
    public static func layerNorm(_ input: Tensor, weight: Tensor, bias: Tensor, epsilon: Float) -> Tensor {
        let features = input.shape.last ?? 0
        precondition(input.rank >= 1 && weight.shape == [features] && bias.shape == [features],
                     "layerNorm: weight \(weight.shape), bias \(bias.shape) do not match input \(input.shape)")
        let x = input.detached().contiguous(), gamma = weight.detached().contiguous(), beta = bias.detached().contiguous()
        let rowCount = features == 0 ? 0 : input.elementCount / features
        let result = Tensor(uninitializedShape: input.shape)
        var statistics = [Float](repeating: 0, count: 2 * rowCount)
        let output = result.mutableElements, source = x.elements, g = gamma.elements, b = beta.elements
        let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(features, 1))
        statistics.withUnsafeMutableBufferPointer { stats in
            let stats = stats.baseAddress!
            withExtendedLifetime((x.storage, gamma.storage, beta.storage)) {
                Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { rows in
                    for row in rows {
                        let from = source + row * features, to = output + row * features
                        let (mean, inverse) = rowStatistics(from, features, epsilon: epsilon)
                        stats[2 * row] = mean
                        stats[2 * row + 1] = inverse
                        for i in 0..<features { to[i] = (from[i] - mean) * inverse * g[i] + b[i] }
                    }
                }
            }
        }
        let saved = statistics
        let needs = (input.requiresGradient, weight.requiresGradient, bias.requiresGradient)
        return result.recorded(from: [input, weight, bias]) { gradient in
            let dy = gradient.contiguous()
            let incoming = dy.elements, source = x.elements, g = gamma.elements
            var inputGradient: Tensor? = nil
            if needs.0 {
                let dxTensor = Tensor(uninitializedShape: x.shape)
                let dx = dxTensor.mutableElements
                withExtendedLifetime((x.storage, gamma.storage, dy.storage)) {
                    Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { rows in
                        for row in rows {
                            let (mean, inverse) = (saved[2 * row], saved[2 * row + 1])
                            let from = source + row * features, upstream = incoming + row * features
                            var (sum, dotSum) = (0.0, 0.0)
                            for i in 0..<features {
                                let scaled = upstream[i] * g[i]
                                sum += Double(scaled)
                                dotSum += Double(scaled * (from[i] - mean) * inverse)
                            }
                            let meanTerm = Float(sum / Double(features)), dotTerm = Float(dotSum / Double(features))
                            let to = dx + row * features
                            for i in 0..<features {
                                to[i] = inverse * (upstream[i] * g[i] - meanTerm - (from[i] - mean) * inverse * dotTerm)
                            }
                        }
                    }
                }
                inputGradient = dxTensor
            }
            // dγ and dβ: column sums over all rows (only when the affine parameters are trained).
            var weightSums = [Double](repeating: 0, count: needs.1 ? features : 0)
            var biasSums = [Double](repeating: 0, count: needs.2 ? features : 0)
            if needs.1 || needs.2 {
                withExtendedLifetime((x.storage, dy.storage)) {
                    for row in 0..<rowCount {
                        let (mean, inverse) = (saved[2 * row], saved[2 * row + 1])
                        let from = source + row * features, upstream = incoming + row * features
                        for i in 0..<features {
                            if needs.1 { weightSums[i] += Double(upstream[i] * (from[i] - mean) * inverse) }
                            if needs.2 { biasSums[i] += Double(upstream[i]) }
                        }
                    }
                }
            }
            return [inputGradient,
                    needs.1 ? Tensor(weightSums.map(Float.init), shape: [features]) : nil,
                    needs.2 ? Tensor(biasSums.map(Float.init), shape: [features]) : nil]
        }
    }

    // MARK: GEGLU

    /// diffusers' GEGLU on a projection [.., 2·I]: the first half times GELU (erf form) of the second → [.., I].
    public func geglu() -> Tensor {
        let width = shape.last ?? 0
        precondition(rank >= 1 && width % 2 == 0, "geglu: last axis of \(shape) must have an even size")
        let inner = width / 2
        let x = detached().contiguous()
        let rowCount = width == 0 ? 0 : elementCount / width
        var outputShape = shape
        outputShape[rank - 1] = inner
        let result = Tensor(uninitializedShape: outputShape)
        let output = result.mutableElements, source = x.elements
        let minimumRows = Swift.max(1, Parallel.elementGrain / Swift.max(width, 1))
        withExtendedLifetime(x.storage) {
            Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { rows in
                for row in rows {
                    let a = source + row * width
                    spm_geglu(a, a + inner, output + row * inner, inner)
                }
            }
        }
        return result.recorded(from: [self]) { gradient in
            let dy = gradient.contiguous()
            return [Tensor(shape: x.shape) { dx in
                let dx = dx.baseAddress!, incoming = dy.elements, source = x.elements
                withExtendedLifetime((x.storage, dy.storage)) {
                    Parallel.forEachChunk(count: rowCount, minimumChunk: minimumRows) { rows in
                        for row in rows {
                            let a = source + row * width, b = a + inner, upstream = incoming + row * inner
                            let toA = dx + row * width, toB = toA + inner
                            spm_geglu_backward(upstream, a, b, toA, toB, inner)
                        }
                    }
                }
            }]
        }
    }
}
