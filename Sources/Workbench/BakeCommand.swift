import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench bake --model CKPT --membrane M[:w] … -o OUT`.
struct BakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bake",
        abstract: "Write a checkpoint with membranes folded into its weights.",
        discussion: """
            W ← W + Σ weight·ΔW on every adapted layer, computed in fp32 and cast back to the stored dtype. A \
            single-file checkpoint is written as a single file with the same names (LDM/SGM), dtypes and data \
            offsets; a diffusers folder as a new folder. Every tensor a membrane does not touch keeps its exact \
            bytes. Each layer reports whether its change survived the cast (a small change on an fp16 weight can \
            round away). A baked model has no gates: facilitated transport and min_gate no longer apply, every \
            prompt gets the membranes at their weights. Any error prints one line on stderr, exits with status 1 \
            and writes nothing.
            """
    )

    @Option(help: "A diffusers model folder or a single-file .safetensors checkpoint.")
    var model: String

    @Option(help: "For a single-file checkpoint: a diffusers folder with its configs (default: the bundled SD1.5/SD2.1/SDXL configs of the detected family).")
    var config: String?

    @Option(name: .long, help: ArgumentHelp("A membrane to fold in, with an optional weight (path.safetensors:0.8); repeatable.", valueName: "path[:weight]"))
    var membrane: [String] = []

    @Option(name: .shortAndLong, help: "The checkpoint (single file) or diffusers folder to write.")
    var output: String

    func run() throws {
        try reportingErrors {
            guard !membrane.isEmpty else { throw ValidationError("bake: give at least one --membrane") }
            let choices = try membrane.map(MembraneChoice.init(parsing:))
            if let gated = choices.first(where: { $0.minGate != nil }) {
                throw ValidationError("--membrane \(gated.path): a baked model has no gates, so min_gate does not apply; give path[:weight]")
            }
            let modelURL = URL(fileURLWithPath: model)
            let layout = try Self.layout(model: modelURL, configFolder: config.map { URL(fileURLWithPath: $0) })
            let files = try choices.map { try MembraneFile.read(URL(fileURLWithPath: $0.path), layout: layout) }
            let slots = MembraneAdapters.gateSlots(for: files)
            let record = JSONValue.array(zip(files, choices).map { file, choice in
                .object([JSONMember("title", .string(file.title)), JSONMember("file", .string(choice.name)),
                         JSONMember("weight", .double(Double(choice.weight))),
                         JSONMember("concepts", .array(file.concepts.map { .string($0.name) }))])
            }).serialized()
            let report = try MembraneBake.bake(model: modelURL, adapters: MembraneAdapters.adapters(for: files),
                                               gates: MembraneAdapters.gates(perMembrane: choices.map(\.weight), slots: slots),
                                               record: record, to: URL(fileURLWithPath: output))
            print("baked \(files.count) membrane(s) into \(output): \(report.layers.count) layers changed in "
                  + "\(report.bakedFiles.joined(separator: ", ")), \(report.untouchedTensors) tensors copied unchanged")
            for layer in report.layers where layer.vanished {
                FileHandle.standardError.write(Data("warning: \(layer.tensor): the change rounded away entirely in \(layer.dtype.rawValue)\n".utf8))
            }
            if let worst = report.layers.min(by: { $0.survivingShare < $1.survivingShare }) {
                let dtypes = Set(report.layers.map(\.dtype.rawValue)).sorted().joined(separator: "/")
                print(String(format: "cast back to %@: %d layer(s) lost their change; lowest share of changed elements kept %.1f%% (%@)",
                             dtypes, report.layers.filter(\.vanished).count, 100 * worst.survivingShare, worst.tensor))
            }
        }
    }

    /// The UNet layout the membranes are read against: the folder's UNet config, or for a single file the config
    /// of `configFolder` or of the bundled configs for its detected architecture.
    static func layout(model: URL, configFolder: URL?) throws -> MembraneLayout {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: model.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try MembraneLayout(unetConfigAt: model)
        }
        let file = try WeightFile.open(model)
        guard let architecture = CheckpointArchitecture.detect(singleFileKeys: Set(file.tensorNames)) else {
            throw BakeError.notACheckpoint(file: model.path)
        }
        return try MembraneLayout(unetConfigAt: try configFolder ?? PipelineModels.bundledConfigFolder(architecture))
    }
}
