import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// Reading membranes for the file commands: the family's bundled UNet layout (the shipped model's for the testbed), or
/// the one of `--unet-config`.
struct MembraneLayoutOption: ParsableArguments {
    @Option(help: "The UNet config the membranes belong to (a unet/config.json, or a model folder): needed for models without a bundled config (default: the bundled SD1.5/SD2.1/SDXL config of the family the file declares; for the testbed family, the shipped testbed model's).")
    var unetConfig: String?

    func layout() throws -> MembraneLayout? {
        try unetConfig.map { try MembraneLayout(unetConfigAt: URL(fileURLWithPath: $0)) }
    }

    /// Reads membranes (all of one family, as merging requires), checked against `--unet-config`, or else the
    /// layout of the family the first file declares.
    func read(_ paths: [String]) throws -> [MembraneFile] {
        let urls = paths.map { URL(fileURLWithPath: $0) }
        // A file that is no membrane gets its own error from the read itself, so detection failures pass.
        let family = try? urls.first.flatMap { try MembraneFileSummary.detect(in: WeightFile.open($0))?.family }
        return try MembraneFile.read(urls, layout: try family.map { try layout(for: $0, file: paths[0]) } ?? layout())
    }

    /// The layout a membrane of `family` is read and written with: `--unet-config`, else the family's bundled
    /// config, else — for the testbed, which ships with the workbench — the shipped testbed model's.
    func layout(for family: ModelFamily, file: String) throws -> MembraneLayout {
        if let given = try layout() { return given }
        if let bundled = try MembraneLayout.bundled(for: family) { return bundled }
        if family == .testbed, let testbed = TUICommand.shippedTestbedModel() {
            return try MembraneLayout(unetConfigAt: testbed)
        }
        throw MembraneFileError.needsUNetConfig(file: file, family: family)
    }
}

/// `spm-workbench merge A B … -o OUT [--weights …] [--rank K]`.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge membranes into one file, exactly (concatenated ranks) or compressed to a rank.",
        discussion: """
            By default the ranks are concatenated with each weight folded in, so the merged ΔW is exactly \
            Σ weight·ΔW per layer and each concept keeps its own rank slice (our engine can still gate it). \
            --rank K compresses every layer to its best rank-K approximation (SVD) and prints each layer's \
            relative error; per-concept gating is then lost. Membranes of different model families are refused. \
            Any error prints one line on stderr, exits with status 1 and writes nothing.
            """
    )

    @Argument(help: "The membranes to merge (.safetensors).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "The merged membrane to write.")
    var output: String

    @Option(help: "Comma-separated weights, one per membrane (default: 1 each); negative weights are allowed.")
    var weights: String?

    @Option(help: "Compress every layer to this rank (SVD).")
    var rank: Int?

    @Option(help: "The merged file's name (ss_output_name; default: the output file's name).")
    var title: String?

    @OptionGroup var layoutOption: MembraneLayoutOption

    func run() throws {
        try reportingErrors {
            guard !inputs.isEmpty else { throw ValidationError("merge: give at least one membrane") }
            let factors = try parseWeights()
            let files = try layoutOption.read(inputs)
            let outputURL = URL(fileURLWithPath: output)
            let name = title ?? outputURL.deletingPathExtension().lastPathComponent
            var merged = try MembraneMerge.concatenate(Array(zip(files, factors)).map { (file: $0.0, weight: $0.1) }, title: name)
            var report: [String] = []
            if let rank {
                let (compressed, errors) = try MembraneMerge.compress(merged, toRank: rank)
                merged = compressed
                for error in errors {
                    report.append("  \(error.path)  rank \(error.rank)  relative error \(String(format: "%.3e", error.relativeError))")
                }
                let worst = errors.map(\.relativeError).max() ?? 0
                report.insert("compressed to rank \(rank): worst relative error \(String(format: "%.3e", worst)) over \(errors.count) layers", at: 0)
            }
            try merged.write(to: outputURL, layout: try layoutOption.layout(for: merged.family, file: merged.title))
            print("merged \(files.count) membrane(s) (\(merged.family.rawValue)) into \(output): \(merged.layers.count) layers, rank \(merged.rank)")
            for concept in merged.concepts {
                print("  concept \(concept.name): ranks \(concept.ranks.lowerBound)..<\(concept.ranks.upperBound)"
                      + (concept.minGate.map { ", min_gate \($0)" } ?? "")
                      + (concept.gateThreshold.map { ", gate_threshold \($0)" } ?? ""))
            }
            report.forEach { print($0) }
        }
    }

    private func parseWeights() throws -> [Float] {
        guard let weights else { return Array(repeating: 1, count: inputs.count) }
        let parts = weights.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Float($0) }.filter(\.isFinite)
        guard values.count == parts.count else { throw ValidationError("--weights '\(weights)': expected comma-separated numbers") }
        guard values.count == inputs.count else {
            throw ValidationError("--weights has \(values.count) value(s) for \(inputs.count) membrane(s)")
        }
        return values
    }
}

/// `spm-workbench export --format kohya|diffusers IN -o OUT`.
struct ExportCommand: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case kohya, diffusers
    }

    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Rewrite a membrane (or a research-code SPM file) for other tools.",
        discussion: """
            kohya: the membrane file format itself (kohya LoRA tensors; SGM names for the SDXL family, diffusers \
            names otherwise; ss_*, modelspec.* and sshs_model_hash metadata) — loads in A1111, ComfyUI, kohya and \
            diffusers. diffusers: diffusers' native LoRA layout (PEFT keys unet.<module>.lora_A/lora_B.weight, \
            α/r folded into lora_B, header format=pt and lora_adapter_metadata).
            Any error prints one line on stderr, exits with status 1 and writes nothing.
            """
    )

    @Option(help: "kohya or diffusers.")
    var format: Format

    @Argument(help: "The membrane to export (.safetensors).")
    var input: String

    @Option(name: .shortAndLong, help: "The file to write.")
    var output: String

    @OptionGroup var layoutOption: MembraneLayoutOption

    func run() throws {
        try reportingErrors {
            let membrane = try layoutOption.read([input])[0]
            let layout = try layoutOption.layout(for: membrane.family, file: membrane.title)
            let url = URL(fileURLWithPath: output)
            switch format {
            case .kohya: try membrane.write(to: url, layout: layout)
            case .diffusers: try DiffusersLoRAExport.write(membrane, layout: layout, to: url)
            }
            print("wrote \(output) (\(format.rawValue), \(membrane.family.rawValue)): \(membrane.layers.count) layers, rank \(membrane.rank)")
        }
    }
}
