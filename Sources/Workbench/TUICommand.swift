import ArgumentParser
import Diffusion
import Foundation
import Membrane
import TUI

extension ImageModeChoice: ExpressibleByArgument {}

/// `spm-workbench` (no arguments) or `spm-workbench tui`: the ncurses workbench.
struct TUICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "Open the terminal workbench (the default when no command is given)."
    )

    @Option(help: "Base model to open (a diffusers folder or a single-file checkpoint; default: the testbed model shipped in models/testbed).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("A membrane to attach to the model, with an optional strength and gate floor; repeatable (m toggles them, c compares).", valueName: "path[:weight[:min_gate]]"))
    var membrane: [String] = []

    @Option(help: ArgumentHelp("A training log (JSON lines) to follow from the start, e.g. the one a running `spm-workbench train` writes; it may appear later.", valueName: "path"))
    var trainingLog: String?

    @Option(help: ArgumentHelp("A training config (YAML) to open in the config editor.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Facilitated transport the rack starts with (f switches it there): embeddings, reference, tokens or off.", valueName: TransportConfig.commandLineChoices.joined(separator: "|")))
    var transport = "embeddings"

    @Option(help: "Colour theme: the name of a file in themes/ (dark, light, high-contrast).")
    var theme = "dark"

    @Option(help: "How images are drawn; auto asks the terminal (kitty and sixel graphics, else Unicode blocks).")
    var images = ImageModeChoice.auto

    @Option(help: precisionHelp)
    var precision: ComputePrecision = .fp32

    func run() throws {
        ComputeEnvironment.setPrecision(precision)
        let membranes: [MembraneChoice]
        do {
            membranes = try membrane.map(MembraneChoice.init(parsing:))
        } catch {
            throw ValidationError("\(error)")
        }
        guard let transportConfig = TransportConfig(commandLine: transport) else {
            throw ValidationError("--transport '\(transport)': expected one of \(TransportConfig.commandLineChoices.joined(separator: ", "))")
        }
        try WorkbenchLauncher.run(WorkbenchLauncher.Settings(
            modelPath: model ?? TUICommand.shippedTestbedModel()?.path, membranes: membranes, trainingLog: trainingLog,
            configPath: config, transport: transportConfig, themeName: theme, images: images,
            themeDirectories: TUICommand.themeDirectories()))
    }

    /// The files shipped beside the program at `relative` (`themes`, `models/testbed`), in the order they are
    /// looked for: the working directory, then the executable's folder and the folders above it (a build sits in
    /// `.build/<triple>/<config>/` inside the repository), then an installed `share/spm-workbench`.
    static func shippedPaths(_ relative: String) -> [URL] {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var paths = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relative)]
        let installed = folder.appendingPathComponent("../share/spm-workbench").appendingPathComponent(relative).standardized
        for _ in 0..<4 {
            paths.append(folder.appendingPathComponent(relative))
            folder = folder.deletingLastPathComponent()
        }
        return paths + [installed]
    }

    static func themeDirectories() -> [URL] { shippedPaths("themes") }

    /// The testbed model the workbench opens when no `--model` is given: the first shipped copy that is a
    /// diffusers folder.
    static func shippedTestbedModel() -> URL? {
        shippedPaths("models/testbed").first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("model_index.json").path)
        }
    }

    /// The model a command runs on: `given`, else the shipped testbed model — the same lookup the workbench makes.
    static func modelOrShippedTestbed(_ given: String?) throws -> String {
        guard let path = given ?? shippedTestbedModel()?.path else {
            throw ValidationError("--model: give a model (no shipped testbed model was found in models/testbed)")
        }
        return path
    }
}
