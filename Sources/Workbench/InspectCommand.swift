import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench inspect PATH [--json]`: what a weights file or a diffusers model folder holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a safetensors file or a diffusers model folder.",
        discussion: """
            A .safetensors file: tensor count, dtypes, parameter count and metadata; for a membrane or other \
            kohya-style LoRA also its layers, rank, alpha, naming, model family and concepts.
            A diffusers folder (with model_index.json): its components, their classes, key config figures and \
            weight files.
            A Stable Diffusion model (a diffusers pipeline folder, or a single-file checkpoint) also gets a load \
            check: the models are built from the tensor headers alone (nothing decoded) and every applied, \
            missing, mis-shaped and unused tensor is reported per component.
            PyTorch pickles (.ckpt, .pt, .pth, .bin) are refused: convert them to safetensors first.
            Any error prints one line on stderr and exits with status 1.
            """
    )

    @Argument(help: "A .safetensors file, or a diffusers model folder.")
    var path: String

    @Flag(help: "Print one JSON object (sorted keys) instead of text.")
    var json = false

    @Option(help: "For a single-file checkpoint: a diffusers folder with its configs (default: the bundled configs of its detected family).")
    var config: String?

    @Option(help: "For a diffusers folder: the precision variant to check (fp16, bf16 …; default: full precision, or the only variant).")
    var variant: String?

    func run() throws {
        try reportingErrors {
            let report = try InspectReport(path: path, configFolder: config.map { URL(fileURLWithPath: $0) }, variant: variant)
            print(json ? report.json.prettyPrinted(sortedKeys: true) : report.text)
        }
    }
}
