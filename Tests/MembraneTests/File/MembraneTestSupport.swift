import Diffusion
import Foundation
@testable import Membrane
import TestSupport

enum MembraneFixtures {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
    static var fixtures: URL { repository.appendingPathComponent("Tests/Fixtures") }
    static var tinyLayout: MembraneLayout {
        get throws { try MembraneLayout(unetConfigAt: fixtures.appendingPathComponent("tiny-sd1")) }
    }

    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("membrane-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A random membrane on every module of `layout` (or the first `limit`), with rank `rank` and alpha `alpha`.
    static func random(_ layout: MembraneLayout, family: ModelFamily, rank: Int, alpha: Float, seed: UInt64,
                       concept: String, limit: Int? = nil) -> MembraneFile {
        var generator = SplitMix64(seed: seed)
        var layers: [String: MembraneLayer] = [:]
        for module in layout.modules.prefix(limit ?? layout.modules.count) {
            layers[module.path] = MembraneLayer(rank: rank, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                                                down: generator.floats(rank * module.inFeatures),
                                                up: generator.floats(module.outFeatures * rank), alpha: alpha)
        }
        return MembraneFile(family: family, layers: layers, concepts: [MembraneConcept(name: concept, ranks: 0..<rank)], title: concept)
    }

    /// ΔW = scale · U · D by the textbook triple loop, in Double (independent of the code under test).
    static func delta(_ layer: MembraneLayer) -> [Double] {
        var result = [Double](repeating: 0, count: layer.outFeatures * layer.inFeatures)
        for o in 0..<layer.outFeatures {
            for i in 0..<layer.inFeatures {
                var sum = 0.0
                for k in 0..<layer.rank { sum += Double(layer.up[o * layer.rank + k]) * Double(layer.down[k * layer.inFeatures + i]) }
                result[o * layer.inFeatures + i] = Double(layer.alpha) / Double(layer.rank) * sum
            }
        }
        return result
    }
}
