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
            PyTorch pickles (.ckpt, .pt, .pth, .bin) are refused: convert them to safetensors first.
            Any error prints one line on stderr and exits with status 1.
            """
    )

    @Argument(help: "A .safetensors file, or a diffusers model folder.")
    var path: String

    @Flag(help: "Print one JSON object (sorted keys) instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let report = try InspectReport(path: path)
            print(json ? report.json.prettyPrinted(sortedKeys: true) : report.text)
        }
    }
}
