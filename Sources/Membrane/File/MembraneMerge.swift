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

        var found: [String: (inFeatures: Int, outFeatures: Int)] = [:]
        for input in inputs {
            for (path, layer) in input.file.layers {
                if let known = found[path], known != (layer.inFeatures, layer.outFeatures) {
                    throw MembraneFileError.invalidMerge(problem: "layer \(path) is \(layer.outFeatures)×\(layer.inFeatures) in \(input.file.title) but \(known.outFeatures)×\(known.inFeatures) elsewhere")
                }
                found[path] = (layer.inFeatures, layer.outFeatures)
            }
        }
        let shapes = found

        // Layers are independent: built concurrently, since filling a gigabyte of new arrays (100 SDXL membranes)
        // is mostly the kernel handing out fresh pages, which runs on every core.
        let paths = shapes.keys.sorted()
        let built = try paths.concurrentMap { path in
            concatenatedLayer(path, inputs: inputs, offsets: offsets,
                              inFeatures: shapes[path]!.inFeatures, outFeatures: shapes[path]!.outFeatures)
        }
        let layers = Dictionary(uniqueKeysWithValues: zip(paths, built))
        var concepts: [MembraneConcept] = []
        for (i, input) in inputs.enumerated() {
            for concept in input.file.concepts {
                var shifted = concept
                shifted.ranks = (offsets[i] + concept.ranks.lowerBound)..<(offsets[i] + concept.ranks.upperBound)
                concepts.append(shifted)
            }
        }
        return MembraneFile(family: first.file.family, layers: layers, concepts: concepts, title: title,
                            mergedFrom: inputs.map(\.file.title))
    }

    /// One layer of the exact merge: input i's factors, scaled, in rank slice offsets[i]..<offsets[i + 1]; zero
    /// where input i lacks the layer.
    private static func concatenatedLayer(_ path: String, inputs: [(file: MembraneFile, weight: Float)], offsets: [Int],
                                          inFeatures: Int, outFeatures: Int) -> MembraneLayer {
        let total = offsets.last!
        var down = [Float](unsafeUninitializedCapacity: total * inFeatures) { _, count in count = total * inFeatures }
        var up = [Float](unsafeUninitializedCapacity: outFeatures * total) { _, count in count = outFeatures * total }
        down.withUnsafeMutableBufferPointer { down in
            up.withUnsafeMutableBufferPointer { up in
                for (i, input) in inputs.enumerated() {
                    let offset = offsets[i], width = offsets[i + 1] - offsets[i]
                    guard let layer = input.file.layers[path] else {
                        for k in offset * inFeatures..<(offset + width) * inFeatures { down[k] = 0 }
                        for row in 0..<outFeatures {
                            for k in 0..<width { up[row * total + offset + k] = 0 }
                        }
                        continue
                    }
                    let root = abs(input.weight).squareRoot()
                    let downFactor = input.weight < 0 ? -root : root
                    let upFactor = root * layer.scale
                    layer.down.withUnsafeBufferPointer { source in
                        for k in 0..<source.count { down[offset * inFeatures + k] = downFactor * source[k] }
                    }
                    // A file's rank may be below its slice width (its widest layer sets the width): zero the rest.
                    for k in layer.rank * inFeatures..<width * inFeatures { down[offset * inFeatures + k] = 0 }
                    layer.up.withUnsafeBufferPointer { source in
                        for row in 0..<outFeatures {
                            for k in 0..<layer.rank { up[row * total + offset + k] = upFactor * source[row * layer.rank + k] }
                            for k in layer.rank..<width { up[row * total + offset + k] = 0 }
                        }
                    }
                }
            }
        }
        return MembraneLayer(rank: total, inFeatures: inFeatures, outFeatures: outFeatures, down: down, up: up,
                             alpha: Float(total))
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
        result.concepts = file.concepts.map { concept in
            var whole = concept
            whole.ranks = 0..<newRank
            return whole
        }
        return (result, errors)
    }
}
