import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench evaluate`: how well membranes erase their concept and spare the rest, measured on a task.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure erasure and preservation of membranes (task: testbed).",
        discussion: """
            testbed: on the testbed model, generates every prompt that names the target (each synonym in each \
            caption template) and prompts that do not, each once without and once with the membranes (same seed), \
            and reads the images with the testbed's detectors: erasure rate (target absent where named), \
            preservation (detector accuracy on the other prompts relative to the base model) and pixel drift.
            """
    )

    @Option(help: "The task: testbed.")
    var task = "testbed"

    @Option(help: "The model (default: the shipped testbed model).")
    var model = "models/testbed"

    @Option(name: .long, help: ArgumentHelp("A membrane to evaluate; repeatable (they act together).", valueName: "path[:weight[:min_gate]]"))
    var membrane: [String] = []

    @Option(help: "The concept whose erasure is measured (default: the first membrane's first concept).")
    var target: String?

    @Option(help: "Prompts that do not name the target.")
    var others = 40

    @Option(help: "Prompts per synonym and caption template that name the target.")
    var repeats = 1

    @Option(help: "Seed of the prompt suite (scenes, wording, generation seeds).")
    var seed: UInt64 = 0

    @Option(help: "Denoising steps per image.")
    var steps = 20

    @Option(help: "Classifier-free guidance scale.")
    var guidance: Float = 7.5

    @Option(help: ArgumentHelp("Gate the membranes per prompt (facilitated transport; the default measure, as generate uses it), or off: always on at their weight (the membrane alone).", valueName: TransportConfig.commandLineChoices.joined(separator: "|")))
    var transport = "embeddings"

    @Flag(help: "Print the report as JSON instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Write the before/after pairs of the prompts that name the target as a PNG: one row per prompt, the base model's image then the membrane's, enlarged 4×.", valueName: "path.png"))
    var sheet: String?

    @Option(help: "Draw this many before/after pairs of prompts that name the target in the terminal (24-bit colour half blocks) before the table.")
    var show = 0

    func validate() throws {
        guard task == "testbed" else { throw ValidationError("--task \(task): expected testbed (the only task so far)") }
        guard !membrane.isEmpty else { throw ValidationError("--membrane: give at least one membrane to evaluate") }
        guard TransportConfig(commandLine: transport) != nil else {
            throw ValidationError("--transport '\(transport)': expected one of \(TransportConfig.commandLineChoices.joined(separator: ", "))")
        }
        guard steps >= 1, others >= 1, repeats >= 1 else { throw ValidationError("--steps, --others and --repeats must be at least 1") }
        guard show >= 0 else { throw ValidationError("--show \(show): expected a count of pairs, 0 or more") }
        if let sheet, !sheet.lowercased().hasSuffix(".png") { throw ValidationError("--sheet \(sheet): expected a path ending in .png") }
    }

    func run() throws {
        try reportingErrors {
            let models = try PipelineModels.load(from: URL(fileURLWithPath: model))
            let layout = MembraneLayout(unet: models.unet.configuration)
            let choices = try membrane.map(MembraneChoice.init(parsing:))
            let files = try choices.map { try MembraneFile.read(URL(fileURLWithPath: $0.path), layout: layout) }
            let word = target ?? files.first?.concepts.first?.name ?? ""
            guard let concept = TestbedConcept(word: word) else {
                throw ValidationError("--target '\(word)': not a testbed concept (colours, shapes, striped, dotted, smiley and their synonyms)")
            }
            let suite = TestbedPromptSuite(target: concept, repeats: repeats, otherCount: others, seed: seed)
            let evaluation = TestbedEvaluationRun(steps: steps, guidance: guidance,
                                                  transport: TransportConfig(commandLine: transport) ?? TransportConfig())
            let generations = try evaluation.generations(models: models, membranes: Array(zip(files, choices)),
                                                         suite: suite) { done, total in
                FileHandle.standardError.write(Data("\rprompt \(done)/\(total)".utf8))
                return true
            }
            FileHandle.standardError.write(Data("\n".utf8))
            let report = try TestbedErasureReport(target: concept, generations: generations)
            let named = generations.filter(\.prompt.namesTarget)
            if let sheet {
                try PNGFile.write(RGBImage.grid(named.flatMap { [$0.base, $0.withMembrane] }, columns: 2, zoom: 4, gap: 2),
                                  to: URL(fileURLWithPath: sheet))
                FileHandle.standardError.write(Data("wrote \(sheet) (\(named.count) prompts: base | membrane)\n".utf8))
            }
            for generation in named.prefix(show) {
                print("\"\(generation.prompt.text)\" (seed \(generation.prompt.seed)): base | membrane")
                print(TerminalPicture.halfBlocks([generation.base, generation.withMembrane]))
            }
            print(json ? try report.json() : report.table)
        }
    }
}
