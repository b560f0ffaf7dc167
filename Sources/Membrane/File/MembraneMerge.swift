import Foundation

/// Combining membranes (METHOD.md §4): exact concatenation along the rank, and optional SVD compression.
public enum MembraneMerge {
    /// The exact merge: ranks concatenated, each input's weight c and its α/r folded into the factors (down rows
    /// sign(c)·√|c|·D, up columns √|c|·(α/r)·U, merged α = merged rank), so ΔW = Σ c_i·(α_i/r_i)·U_i·D_i with no cross
    /// terms. Each input owns a rank slice of width its own rank in every layer (zero where it lacks the layer), and
    /// its concepts keep their slices shifted by that offset, so the runtime can still gate them one by one.
    public static func concatenate(_ inputs: [(file: MembraneFile, weight: Float)], title: String) throws -> MembraneFile {
        guard let first = inputs.first else { throw MembraneFileError.invalidMerge(problem: "no membranes to merge") }
        for input in inputs.dropFirst() where input.file.family != first.file.family {
            throw MembraneFileError.mixedFamilies(first: first.file.title, firstFamily: first.file.family,
                                                  other: input.file.title, otherFamily: input.file.family)
        }
        for input in inputs where !input.weight.isFinite {
            throw MembraneFileError.invalidMerge(problem: "weight \(input.weight) of \(input.file.title) is not finite")
        }
        let widths = inputs.map { max($0.file.rank, 1) }
        let offsets = widths.reduce(into: [0]) { $0.append($0.last! + $1) }
        let total = offsets.last!

        var shapes: [String: (inFeatures: Int, outFeatures: Int)] = [:]
        for input in inputs {
            for (path, layer) in input.file.layers {
                if let known = shapes[path], known != (layer.inFeatures, layer.outFeatures) {
                    throw MembraneFileError.invalidMerge(problem: "layer \(path) is \(layer.outFeatures)×\(layer.inFeatures) in \(input.file.title) but \(known.outFeatures)×\(known.inFeatures) elsewhere")
                }
                shapes[path] = (layer.inFeatures, layer.outFeatures)
            }
        }

        var layers: [String: MembraneLayer] = [:]
        for (path, shape) in shapes {
            var down = [Float](repeating: 0, count: total * shape.inFeatures)
            var up = [Float](repeating: 0, count: shape.outFeatures * total)
            for (i, input) in inputs.enumerated() {
                guard let layer = input.file.layers[path] else { continue }
                let root = abs(input.weight).squareRoot()
                let downFactor = input.weight < 0 ? -root : root
                let upFactor = root * layer.scale
                let offset = offsets[i]
                down.withUnsafeMutableBufferPointer { target in
                    layer.down.withUnsafeBufferPointer { source in
                        for k in 0..<source.count { target[offset * shape.inFeatures + k] = downFactor * source[k] }
                    }
                }
                up.withUnsafeMutableBufferPointer { target in
                    layer.up.withUnsafeBufferPointer { source in
                        for row in 0..<shape.outFeatures {
                            for k in 0..<layer.rank { target[row * total + offset + k] = upFactor * source[row * layer.rank + k] }
                        }
                    }
                }
            }
            layers[path] = MembraneLayer(rank: total, inFeatures: shape.inFeatures, outFeatures: shape.outFeatures,
                                         down: down, up: up, alpha: Float(total))
        }
        var concepts: [MembraneConcept] = []
        for (i, input) in inputs.enumerated() {
            for concept in input.file.concepts {
                concepts.append(MembraneConcept(name: concept.name,
                                                ranks: (offsets[i] + concept.ranks.lowerBound)..<(offsets[i] + concept.ranks.upperBound)))
            }
        }
        return MembraneFile(family: first.file.family, layers: layers, concepts: concepts, title: title,
                            mergedFrom: inputs.map(\.file.title))
    }

    /// How much of one layer's ΔW a compression lost.
    public struct LayerError: Sendable, Equatable {
        public var path: String
        public var rank: Int
        /// ‖ΔW − ΔW_K‖_F / ‖ΔW‖_F (0 for a zero ΔW).
        public var relativeError: Double
    }

    /// Each layer's ΔW truncated to its best rank-`rank` approximation (SVD, Eckart–Young), with α = rank. Per-concept
    /// slices no longer exist afterwards: concepts keep their names but all own the whole rank.
    public static func compress(_ file: MembraneFile, toRank rank: Int) throws -> (MembraneFile, [LayerError]) {
        guard rank >= 1 else { throw MembraneFileError.invalidMerge(problem: "--rank must be at least 1, got \(rank)") }
        var result = file
        var errors: [LayerError] = []
        for (path, layer) in file.layers.sorted(by: { $0.key < $1.key }) {
            let svd = LowRankSVD(up: layer.up, down: layer.down, scale: Double(layer.scale),
                                 rank: layer.rank, outFeatures: layer.outFeatures, inFeatures: layer.inFeatures)
            let kept = min(rank, layer.rank)
            let (up, down) = svd.factors(rank: kept)
            result.layers[path] = MembraneLayer(rank: kept, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures,
                                                down: down, up: up, alpha: Float(kept))
            errors.append(LayerError(path: path, rank: kept, relativeError: svd.relativeError(keeping: kept)))
        }
        let newRank = result.rank
        result.concepts = file.concepts.map { MembraneConcept(name: $0.name, ranks: 0..<newRank) }
        return (result, errors)
    }
}
