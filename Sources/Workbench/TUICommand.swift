import ArgumentParser
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

    @Option(help: "Base model to open (a diffusers folder or a single-file checkpoint).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("A membrane to attach to the model, with an optional strength and gate floor; repeatable (m toggles them, c compares).", valueName: "path[:weight[:min_gate]]"))
    var membrane: [String] = []

    @Option(help: ArgumentHelp("A training log (JSON lines) to follow from the start, e.g. the one a running `spm-workbench train` writes; it may appear later.", valueName: "path"))
    var trainingLog: String?

    @Option(help: ArgumentHelp("A training config (YAML) to open in the config editor.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Facilitated transport the rack starts with (f switches it there): reference, tokens or off.", valueName: TransportConfig.commandLineChoices.joined(separator: "|")))
    var transport = "reference"

    @Option(help: "Colour theme: the name of a file in themes/ (dark, light, high-contrast).")
    var theme = "dark"

    @Option(help: "How images are drawn; auto asks the terminal (kitty and sixel graphics, else Unicode blocks).")
    var images = ImageModeChoice.auto

    func run() throws {
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
            modelPath: model, membranes: membranes, trainingLog: trainingLog, configPath: config, transport: transportConfig, themeName: theme, images: images,
            themeDirectories: TUICommand.themeDirectories()))
    }

    /// `themes/` in the working directory, then in the executable's folder and the folders above it (a build
    /// sits in `.build/<triple>/<config>/` inside the repository), then an installed `share/spm-workbench/themes`.
    static func themeDirectories() -> [URL] {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var directories = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("themes")]
        let installed = folder.appendingPathComponent("../share/spm-workbench/themes").standardized
        for _ in 0..<4 {
            directories.append(folder.appendingPathComponent("themes"))
            folder = folder.deletingLastPathComponent()
        }
        return directories + [installed]
    }
}
