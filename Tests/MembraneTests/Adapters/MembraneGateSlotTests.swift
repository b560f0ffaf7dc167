import Diffusion
import Foundation
import Testing
@testable import Membrane
import TestSupport

/// A merged membrane keeps one gate per concept slice in our engine (METHOD.md §4).
@Suite struct MembraneGateSlotTests {
    @Test func slotsFollowTheConceptSlices() {
        let layers = [String: MembraneLayer]()
        func file(rank: Int, _ concepts: [(String, Range<Int>)]) -> MembraneFile {
            var file = MembraneFile(family: .sd1, layers: layers, concepts: concepts.map { MembraneConcept(name: $0.0, ranks: $0.1) }, title: "t")
            file.layers["x"] = MembraneLayer(rank: rank, inFeatures: 1, outFeatures: 1, down: .init(repeating: 0, count: rank),
                                             up: .init(repeating: 0, count: rank), alpha: 1)
            return file
        }
        // The research code's file: several concepts, all on the whole rank → one gate for all of them.
        let research = file(rank: 1, [("snoopy", 0..<1), ("mickey", 0..<1)])
        // A merge of four inputs, one of them a plain LoRA whose slice no concept claims (always on), and a
        // concept name that two inputs share.
        let merged = file(rank: 6, [("a", 0..<1), ("b", 1..<3), ("c", 3..<5), ("a", 3..<4)])
        let plain = file(rank: 2, [])
        #expect(MembraneAdapters.gateSlots(for: [research, merged, plain]) == [
            MembraneGateSlot(membrane: 0, ranks: 0..<1, concepts: ["snoopy", "mickey"]),
            MembraneGateSlot(membrane: 1, ranks: 0..<1, concepts: ["a"]),
            MembraneGateSlot(membrane: 1, ranks: 1..<3, concepts: ["b"]),
            MembraneGateSlot(membrane: 1, ranks: 3..<4, concepts: ["c", "a"]),
            MembraneGateSlot(membrane: 1, ranks: 4..<5, concepts: ["c"]),
            MembraneGateSlot(membrane: 1, ranks: 5..<6, concepts: []),
            MembraneGateSlot(membrane: 2, ranks: 0..<2, concepts: []),
        ])
        let adapter = MembraneAdapters.adapters(for: [research, merged, plain])["x"]
        #expect(adapter?.gateOfRank == [0, 1, 2, 2, 3, 4, 5, 6, 6])
        #expect(MembraneAdapters.gates(perMembrane: [0.5, 1, -1], slots: MembraneAdapters.gateSlots(for: [research, merged, plain]))
                == [0.5, 1, 1, 1, 1, 1, -1])
    }

    @Test func aMergedFileGatesEachConceptLikeTheSeparateFiles() throws {
        let layout = try MembraneFixtures.tinyLayout
        let models = try PipelineModels.load(from: MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1"))
        var a = MembraneFixtures.random(layout, family: .testbed, rank: 1, alpha: 1, seed: 21, concept: "snoopy")
        var b = MembraneFixtures.random(layout, family: .testbed, rank: 2, alpha: 0.5, seed: 22, concept: "mickey")
        b.layers.removeValue(forKey: "mid_block.attentions.0.proj_out")
        for index in a.layers.keys { a.layers[index]!.up = a.layers[index]!.up.map { $0 * 0.3 } }
        let weights: [Float] = [0.7, -1.2]
        let merged = try MembraneMerge.concatenate([(a, weights[0]), (b, weights[1])], title: "merged")
        // Written and read back: the concept → slice map survives the file.
        let folder = try MembraneFixtures.temporaryDirectory("gates")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("merged.safetensors")
        try merged.write(to: url, layout: layout)
        let reread = try MembraneFile.read(url, layout: layout)
        #expect(MembraneAdapters.gateSlots(for: [reread]).map(\.concepts) == [["snoopy"], ["mickey"]])

        let separate = try models.unet.attaching(MembraneAdapters.adapters(for: [a, b]))
        let together = try models.unet.attaching(MembraneAdapters.adapters(for: [reread]))
        var generator = SplitMix64(seed: 9)
        let sample = Tensor(generator.floats(3 * 4 * 8 * 8), shape: [3, 4, 8, 8])
        let context = Tensor(generator.floats(3 * 77 * 32), shape: [3, 77, 32])
        // Per sample, per concept: the separate files take gate × weight, the merged file has the weights inside.
        let conceptGates: [[Float]] = [[1, 0], [0, 1], [0.3, 0.8]]
        let separateGates = Tensor(conceptGates.flatMap { zip($0, weights).map { $0 * $1 } }, shape: [3, 2])
        let mergedGates = Tensor(conceptGates.flatMap { $0 }, shape: [3, 2])
        let expected = separate(sample, timesteps: [10, 500, 900], context: context, gates: separateGates).toArray()
        let actual = together(sample, timesteps: [10, 500, 900], context: context, gates: mergedGates).toArray()
        let frozen = models.unet(sample, timesteps: [10, 500, 900], context: context).toArray()
        let error = zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
        let effect = zip(actual, frozen).map { abs($0 - $1) }.max() ?? 0
        #expect(error <= 1e-5, "merged vs separate: \(error)")
        #expect(effect > 1e-2, "the membranes change the output (\(effect))")
    }
}
