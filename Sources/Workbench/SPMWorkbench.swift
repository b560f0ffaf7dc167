import ArgumentParser

/// `spm-workbench`: every TUI action also exists as a headless command that scripts and tests call.
struct SPMWorkbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spm-workbench",
        abstract: "Train, merge, generate with and export Concept Semi-Permeable Membranes for Stable Diffusion.",
        subcommands: [TUICommand.self, InspectCommand.self, TrainCommand.self, GenerateCommand.self, EvaluateCommand.self,
                      MergeCommand.self, ExportCommand.self, BakeCommand.self, TestbedCommand.self],
        defaultSubcommand: TUICommand.self
    )
}
