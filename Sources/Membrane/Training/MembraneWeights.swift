import Diffusion
import Foundation

/// The factors of a membrane being trained: for each adapted layer, D [rank, in] and U [out, rank], with
/// ΔW = (α / rank)·U·D (METHOD.md §1). D starts kaiming-uniform (a = √5, PyTorch's Linear default: bound
/// 1/√in), U at zero, so the model is unchanged at step 0.
public struct MembraneWeights: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public let path: String
        public let inFeatures: Int
        public let outFeatures: Int
        public var down: [Float]
        public var up: [Float]
    }

    /// Sorted by path, so the parameter order (optimizer state, checkpoints) never depends on hashing.
    public var layers: [Layer]
    public let rank: Int
    public let alpha: Float

    public var scale: Float { alpha / Float(rank) }

    /// Fresh factors for every adaptable layer of `unet`, drawn from `seed`.
    public init(unet: UNet2DConditionModel, rank: Int, alpha: Float, seed: UInt64) {
        self.rank = rank
        self.alpha = alpha
        layers = unet.adaptableLayers.sorted { $0.path < $1.path }.enumerated().map { index, layer in
            var random = TrainingRandom(seed: seed, step: index, stream: 0x1417)
            let bound = 1 / Float(layer.inFeatures).squareRoot()
            let down = (0..<rank * layer.inFeatures).map { _ in (random.unit() * 2 - 1) * bound }
            return Layer(path: layer.path, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures,
                         down: down, up: [Float](repeating: 0, count: layer.outFeatures * rank))
        }
    }

    /// Trainable parameters in a fixed order: each layer's down, then its up.
    public var parameters: [[Float]] {
        get { layers.flatMap { [$0.down, $0.up] } }
        set {
            precondition(newValue.count == layers.count * 2, "MembraneWeights: \(newValue.count) parameter arrays for \(layers.count) layers")
            for index in layers.indices {
                layers[index].down = newValue[2 * index]
                layers[index].up = newValue[2 * index + 1]
            }
        }
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.down.count + $1.up.count } }

    /// The factors as adapters to attach, α/rank folded into up. With `trainable`, D and U are gradient leaves,
    /// returned in `parameters` order; otherwise the adapters record nothing (the no-grad passes).
    public func adapters(trainable: Bool) -> (adapters: [String: LowRankAdapter], leaves: [Tensor]) {
        var adapters: [String: LowRankAdapter] = [:]
        var leaves: [Tensor] = []
        for layer in layers {
            var down = Tensor(layer.down, shape: [rank, layer.inFeatures])
            var up = Tensor(layer.up, shape: [layer.outFeatures, rank])
            if trainable {
                down = down.requiringGradient()
                up = up.requiringGradient()
                leaves += [down, up]
            }
            adapters[layer.path] = LowRankAdapter(down: down, up: up * scale,
                                                  gateOfRank: [Int](repeating: 0, count: rank))
        }
        return (adapters, leaves)
    }

    /// The membrane file these factors make: every concept of the config on the whole rank, with its gate settings.
    public func membraneFile(family: ModelFamily, concepts: [ConceptEntry], title: String, trainingConfig: String?) -> MembraneFile {
        var files: [String: MembraneLayer] = [:]
        for layer in layers {
            files[layer.path] = MembraneLayer(rank: rank, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures,
                                              down: layer.down, up: layer.up, alpha: alpha)
        }
        var unique: [MembraneConcept] = []
        for entry in concepts where !unique.contains(where: { $0.name == entry.target }) {
            unique.append(MembraneConcept(name: entry.target, ranks: 0..<rank, minGate: entry.minGate.map(Float.init),
                                          gateThreshold: entry.gateThreshold.map(Float.init)))
        }
        return MembraneFile(family: family, layers: files, concepts: unique, trainingConfig: trainingConfig, title: title)
    }
}
