import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-bench merge`: what `spm-workbench merge` does for N membranes of a real model's shape — read N files,
/// concatenate them exactly, write the result — timed.
struct MergeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Time reading, exactly merging and writing N rank-1 membranes of SD1.5 or SDXL shape (JSON).")

    @Option(help: "sd1 or sdxl (the bundled UNet configs).")
    var family = "sd1"

    @Option(help: "How many membranes.")
    var count = 100

    struct Report: Encodable {
        let benchmark = "membrane merge (read + concatenate + write)"
        let family: String
        let membranes: Int
        let layers: Int
        let writeInputsSeconds: Double
        let readSeconds: Double
        let mergeSeconds: Double
        let writeSeconds: Double
        let totalSeconds: Double
        let outputMiB: Double
        let peakRSSGiB: Double
    }

    func run() throws {
        guard let modelFamily = ModelFamily(rawValue: family), let layout = try MembraneLayout.bundled(for: modelFamily) else {
            throw ValidationError("--family \(family): expected sd1, sd2 or sdxl")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spm-bench-merge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = ContinuousClock()
        var state: UInt64 = 1
        func draw(_ count: Int) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(state >> 40) / Float(1 << 24) - 0.5
            }
        }
        var inputs: [URL] = []
        let writeInputs = try clock.measure {
            for index in 0..<count {
                var layers: [String: MembraneLayer] = [:]
                for module in layout.modules {
                    layers[module.path] = MembraneLayer(rank: 1, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                                                        down: draw(module.inFeatures), up: draw(module.outFeatures), alpha: 1)
                }
                let file = MembraneFile(family: modelFamily, layers: layers,
                                        concepts: [MembraneConcept(name: "concept \(index)", ranks: 0..<1)],
                                        trainingConfig: nil, title: "m\(index)", mergedFrom: [])
                let url = folder.appendingPathComponent("m\(index).safetensors")
                try file.write(to: url, layout: layout)
                inputs.append(url)
            }
        }
        var files: [MembraneFile] = []
        let read = try clock.measure { files = try MembraneFile.read(inputs, layout: layout) }
        var merged: MembraneFile?
        let merge = try clock.measure { merged = try MembraneMerge.concatenate(files.map { ($0, 1) }, title: "merged") }
        let output = folder.appendingPathComponent("merged.safetensors")
        let write = try clock.measure { try merged?.write(to: output, layout: layout) }
        let size = (try FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        try printJSON(Report(family: family, membranes: count, layers: layout.modules.count,
                             writeInputsSeconds: writeInputs.seconds, readSeconds: read.seconds,
                             mergeSeconds: merge.seconds, writeSeconds: write.seconds,
                             totalSeconds: read.seconds + merge.seconds + write.seconds,
                             outputMiB: Double(size) / 1_048_576, peakRSSGiB: peakResidentGiB()))
    }
}
