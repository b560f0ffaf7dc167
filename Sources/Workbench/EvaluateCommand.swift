import ArgumentParser
import Diffusion
import Foundation
import Membrane

/// `spm-workbench evaluate`: how well membranes erase their concept and spare the rest, measured on a task.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure erasure and preservation of membranes (tasks: testbed, matrix, attack, general, artwork, i2p, coco).",
        discussion: """
            testbed: on the testbed model, generates every prompt that names the target (each synonym in each \
            caption template) and prompts that do not, each once without and once with the membranes (same seed), \
            and reads the images with the testbed's detectors: erasure rate (target absent where named), \
            preservation (detector accuracy on the other prompts relative to the base model) and pixel drift.

            matrix: on the testbed model, prompts naming each concept of its world, generated without membranes and \
            with each membrane alone (and, with --together, all of them at once): for every membrane and concept, \
            the share of prompts whose image still shows the concept where the base model's does — the erased \
            concepts (marked ✗) should fall to nothing and every other stay. Compare separate membranes with a \
            merged file by giving both.

            attack: on the testbed model, prompts that try to bring the target back past the membranes — synonyms, \
            misspellings, emphasis syntax like (red:1.4), the concept buried after quality tags or pushed past the first 75 tokens \
            (prompts are encoded in 75-token windows, as AUTOMATIC1111 and ComfyUI do), a negative \
            prompt naming every rival (every other colour) while the prompt names none, and two white-box attacks \
            in the spirit of UnlearnDiffAtk: five learned tokens before the prompt (a textual-inversion embedding) \
            and, past the text encoder, the whole conditioning (reported apart from the pooled success) — each generated without \
            membranes, then with them gated by facilitated transport, gated with every gate at least --floor, and \
            always on. Attack success: the target back in the membrane's image, among prompts whose base image \
            shows it.

            general, artwork, i2p, coco (the SPM paper's tasks, on any model): prompts from --prompts — general: \
            classes, one per line, each in ImageNet-style templates (--templates: one per line, {} for the class), \
            --images-per-prompt each; artwork: a CSV with prompt, artist, evaluation_seed (case_number optional); \
            i2p: the I2P CSV (prompt, sd_seed, sd_guidance_scale, sd_image_width, sd_image_height, categories); \
            coco: a CSV with caption (or prompt), image_id and seed optional. Each prompt is generated without and \
            with the membranes into --images (an image already there with the same recorded parameters is reused, \
            so an interrupted run resumes) and scored with CLIP (--clip: a transformers CLIPModel folder, or one \
            with an OpenCLIP weights file; CLIP score against the prompt, CLIP accuracy among the classes or artists) and/or an \
            external detector (--detector: a command that reads image paths on stdin, one per line, and prints one \
            JSON object per image, {"path": …, "scores": {label: score}}; an image is flagged when a counted label \
            scores at least --detector-threshold). Groups that name a membrane's concept count as erased.
            """
    )

    @Option(help: "The task: testbed, matrix, attack, general, artwork, i2p or coco.")
    var task = "testbed"

    @Option(help: ArgumentHelp("general: the classes, one per line; artwork, i2p, coco: the prompt CSV.", valueName: "file"))
    var prompts: String?

    @Option(help: ArgumentHelp("general: the prompt templates, one per line, {} for the class (default: ten ImageNet-style ones).", valueName: "file"))
    var templates: String?

    @Option(help: "general: images per class and template.")
    var imagesPerPrompt = 1

    @Option(help: "Paper tasks: use only the first N prompts.")
    var limit: Int?

    @Option(help: "Paper tasks: generate every image at this square size (default: each row's size, else the model's).")
    var size: Int?

    @Option(help: ArgumentHelp("Paper tasks: where the images go, and are reused from when their parameters match (resume).", valueName: "folder"))
    var images: String?

    @Option(help: ArgumentHelp("Paper tasks: a CLIP model to score with: a transformers CLIPModel folder (config.json, model.safetensors, vocab.json, merges.txt, preprocessor_config.json), or the same with OpenCLIP's open_clip_model.safetensors.", valueName: "folder"))
    var clip: String?

    @Option(help: ArgumentHelp("Paper tasks: an external detector command (image paths on stdin, one JSON line per image out).", valueName: "command"))
    var detector: String?

    @Option(help: ArgumentHelp("A detector label that flags an image; repeatable (default: every label).", valueName: "label"))
    var detectorLabel: [String] = []

    @Option(help: "The detector score at which a label flags an image.")
    var detectorThreshold = 0.5

    @Option(help: ArgumentHelp("Paper tasks: prompts past 75 tokens truncated (diffusers) or encoded in windows (AUTOMATIC1111).", valueName: "truncate|chunk"))
    var longPrompts: LongPromptHandling = .truncate

    @Option(help: "The model (default: the testbed model shipped in models/testbed).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp("A membrane to evaluate; repeatable (they act together).", valueName: "path[:weight[:min_gate]]"))
    var membrane: [String] = []

    @Option(help: "The concept whose erasure is measured (default: the first membrane's first concept).")
    var target: String?

    @Option(help: "Prompts that do not name the target.")
    var others = 40

    @Option(help: "Prompts per synonym and caption template that name the target.")
    var repeats = 1

    @Option(help: "matrix: prompts per concept of the world.")
    var perConcept = 4

    @Flag(help: "matrix: also attach every membrane at once.")
    var together = false

    @Option(help: "attack: prompts per kind of attack.")
    var perKind = 3

    @Option(help: "attack: the least gate of the floored run (min_gate for every membrane).")
    var floor: Float = 0.5

    @Option(help: ArgumentHelp("attack: the kinds to run, comma-separated (default all; each keeps the prompts it has in the whole suite).",
                               valueName: TestbedAttackKind.allCases.map(\.rawValue).joined(separator: ",")))
    var attacks: String?

    @Option(help: "attack: Adam steps of the white-box attacks (default 150 for tokens, 60 for the whole conditioning).")
    var attackSteps: Int?

    @Option(help: "attack: learned tokens of the token attack.")
    var attackTokens = 5

    @Option(help: "attack: the white-box attacks' learning rate (default 0.01 for tokens, 0.1 for the whole conditioning).")
    var attackLearningRate: Float?

    @Option(help: "Seed of the prompt suite (scenes, wording, generation seeds).")
    var seed: UInt64 = 0

    @Option(help: "testbed, matrix and paper tasks: prompts generated together through the UNet (faster on small images, takes more memory).")
    var batch = 8

    @Option(help: "Denoising steps per image.")
    var steps = 20

    @Option(help: "Classifier-free guidance scale.")
    var guidance: Float = 7.5

    @Option(help: precisionHelp)
    var precision: ComputePrecision = .fp32

    @Option(help: ArgumentHelp("Gate the membranes per prompt (facilitated transport; the default measure, as generate uses it), or off: always on at their weight (the membrane alone).", valueName: TransportConfig.commandLineChoices.joined(separator: "|")))
    var transport = "embeddings"

    @Flag(help: "Print the report as JSON instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Also write the report as a folder: index.html, report.json (every number on the page) and PNGs — each prompt's images with the gates, a heat map (matrix), the training loss. The workbench shows the newest report under out/reports.", valueName: "folder"))
    var report: String?

    @Option(help: ArgumentHelp("The training log whose loss curve the report shows (default: NAME.jsonl beside the first membrane, when there is one).", valueName: "path.jsonl"))
    var trainingLog: String?

    @Option(help: ArgumentHelp("Write the before/after pairs of the prompts that name the target as a PNG: one row per prompt, the base model's image then the membrane's, enlarged 4×.", valueName: "path.png"))
    var sheet: String?

    @Option(help: "Draw this many before/after pairs of prompts that name the target in the terminal (24-bit colour half blocks) before the table.")
    var show = 0

    func validate() throws {
        guard ["testbed", "matrix", "attack"].contains(task) || PaperTask(rawValue: task) != nil else {
            throw ValidationError("--task \(task): expected testbed, matrix, attack, general, artwork, i2p or coco")
        }
        if PaperTask(rawValue: task) != nil {
            guard prompts != nil else { throw ValidationError("--task \(task) needs --prompts (the prompt file)") }
            guard clip != nil || detector != nil else { throw ValidationError("--task \(task) needs --clip or --detector to score the images") }
        }
        guard imagesPerPrompt >= 1, batch >= 1, limit.map({ $0 >= 1 }) ?? true, size.map({ $0 >= 1 }) ?? true else {
            throw ValidationError("--images-per-prompt, --batch, --limit and --size must be at least 1")
        }
        guard perKind >= 1, perConcept >= 1 else { throw ValidationError("--per-kind and --per-concept must be at least 1") }
        guard (0...1).contains(floor) else { throw ValidationError("--floor \(floor): expected a gate between 0 and 1") }
        _ = try attackKinds
        guard attackSteps.map({ $0 >= 1 }) ?? true, (1..<CLIPTokenizer.chunkLength).contains(attackTokens), attackLearningRate.map({ $0 > 0 }) ?? true else {
            throw ValidationError("--attack-steps must be at least 1, --attack-tokens between 1 and \(CLIPTokenizer.chunkLength - 1), --attack-learning-rate positive")
        }
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
            ComputeEnvironment.setPrecision(precision)
            let models = try PipelineModels.load(from: URL(fileURLWithPath: try TUICommand.modelOrShippedTestbed(model)),
                                                 layerWeights: precision)
            let layout = MembraneLayout(unet: models.unet.configuration)
            let choices = try membrane.map(MembraneChoice.init(parsing:))
            let files = try MembraneFile.read(choices.map { URL(fileURLWithPath: $0.path) }, layout: layout)
            let transportConfig = TransportConfig(commandLine: transport) ?? TransportConfig()
            func progress(_ done: Int, _ total: Int) -> Bool {
                FileHandle.standardError.write(Data("\rprompt \(done)/\(total)\(done == total ? "\n" : "")".utf8))
                return true
            }
            if let paper = PaperTask(rawValue: task) {
                try runPaperTask(paper, models: models, membranes: Array(zip(files, choices)), transport: transportConfig,
                                 progress: progress)
                return
            }
            if task == "matrix" {
                var settings = zip(files, choices).map { file, choice in
                    TestbedMatrixSetting(name: choice.name, membranes: [(file, choice)])
                }
                if together, files.count > 1 {
                    settings.append(TestbedMatrixSetting(name: "together", membranes: Array(zip(files, choices))))
                }
                let suite = TestbedMatrixSuite(erased: settings.flatMap(\.erased), perConcept: perConcept, seed: seed)
                let result = try TestbedMatrixRun(steps: steps, guidance: guidance, transport: transportConfig, batchSize: batch)
                    .report(models: models, settings: settings, suite: suite, progress: progress)
                try writeReport(result.page(settings: reportSettings, lossCurve: try lossCurve()), images: [])
                print(json ? try result.json() : result.table)
                return
            }
            let word = target ?? files.first?.concepts.first?.name ?? ""
            guard let concept = TestbedConcept(word: word) else {
                throw ValidationError("--target '\(word)': not a testbed concept (colours, shapes, striped, dotted, smiley and their synonyms)")
            }
            if task == "attack" {
                var suite = TestbedAttackSuite(target: concept, perKind: perKind, seed: seed)
                let kinds = try attackKinds
                suite.prompts.removeAll { !kinds.contains($0.kind) }
                let run = TestbedAttackRun(steps: steps, guidance: guidance, transport: transportConfig, floor: floor,
                                           tokenAttack: whiteBoxAttacks.tokens, embeddingAttack: whiteBoxAttacks.conditioning)
                let generations = try run.generations(models: models, membranes: Array(zip(files, choices)), suite: suite,
                                                      progress: progress)
                let result = TestbedAttackReport(target: concept, floor: floor, generations: generations)
                let page = try result.page(generations: generations, settings: reportSettings, lossCurve: try lossCurve())
                try writeReport(page.report, images: page.images)
                print(json ? try result.json() : result.table)
                return
            }
            let suite = TestbedPromptSuite(target: concept, repeats: repeats, otherCount: others, seed: seed)
            let evaluation = TestbedEvaluationRun(steps: steps, guidance: guidance, transport: transportConfig, batchSize: batch)
            let generations = try evaluation.generations(models: models, membranes: Array(zip(files, choices)),
                                                         suite: suite, progress: progress)
            let result = try TestbedErasureReport(target: concept, generations: generations)
            let page = try result.page(generations: generations, settings: reportSettings, lossCurve: try lossCurve())
            try writeReport(page.report, images: page.images)
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
            print(json ? try result.json() : result.table)
        }
    }

    private func runPaperTask(_ paper: PaperTask, models: PipelineModels, membranes: [(file: MembraneFile, choice: MembraneChoice)],
                              transport: TransportConfig, progress: (Int, Int) -> Bool) throws {
        let templateList = try templates.map { path in
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
        }
        let list = try paper.prompts(file: URL(fileURLWithPath: prompts ?? ""), templates: templateList ?? PaperTask.generalTemplates,
                                     imagesPerPrompt: imagesPerPrompt, seed: seed, limit: limit)
        let folder = URL(fileURLWithPath: images ?? "out/evaluate/\(paper.rawValue)")
        let run = PaperTaskRun(steps: steps, guidance: guidance, transport: transport, size: size, longPrompts: longPrompts,
                               imagesFolder: folder, batchSize: batch)
        let generations = try run.generations(models: models, modelName: model.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "testbed",
                                              membranes: membranes, prompts: list, progress: progress)
        let reused = generations.map(\.reused).reduce(0, +)
        if reused > 0 { FileHandle.standardError.write(Data("reused \(reused) images from \(folder.path)\n".utf8)) }
        let scorer = try clip.map { path in (name: path, model: try CLIPModel.load(from: URL(fileURLWithPath: path)) as any ImageTextEmbedding) }
        let result = try PaperTaskReport(task: paper, generations: generations,
                                         erasedConcepts: membranes.flatMap { $0.file.concepts.map(\.name) }, clip: scorer,
                                         detector: detector.map { ExternalDetector(command: $0, labels: detectorLabel, threshold: detectorThreshold) })
        let page = try result.page(generations: generations, settings: reportSettings + ["prompts: \(prompts ?? "")"],
                                   lossCurve: try lossCurve())
        try writeReport(page.report, images: page.images)
        print(json ? try result.json() : result.table)
    }

    private var whiteBoxAttacks: (tokens: TestbedWhiteBoxAttack, conditioning: TestbedWhiteBoxAttack) {
        (TestbedWhiteBoxAttack(space: .tokens(attackTokens), iterations: attackSteps, learningRate: attackLearningRate),
         TestbedWhiteBoxAttack(space: .conditioning, iterations: attackSteps, learningRate: attackLearningRate))
    }

    private var whiteBoxSettings: String {
        let (tokens, conditioning) = whiteBoxAttacks
        return "white-box attacks: \(attackTokens) learned tokens, \(tokens.iterations) Adam steps at \(tokens.learningRate); "
            + "whole conditioning, \(conditioning.iterations) steps at \(conditioning.learningRate)"
    }

    /// `--attacks` read: the kinds of attack to run.
    private var attackKinds: Set<TestbedAttackKind> {
        get throws {
            guard let attacks else { return Set(TestbedAttackKind.allCases) }
            return Set(try attacks.split(separator: ",").map { name in
                guard let kind = TestbedAttackKind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--attacks: '\(name)' is not an attack (expected \(TestbedAttackKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return kind
            })
        }
    }

    /// How the report was made, for its page.
    private var reportSettings: [String] {
        ["model: \(model ?? "the shipped testbed model")", "membranes: \(membrane.joined(separator: ", "))",
         "transport: \(transport)", "steps: \(steps), guidance: \(guidance), suite seed: \(seed)"]
            + (task == "attack" ? [whiteBoxSettings] : [])
    }

    /// The loss curve of `--training-log`, or of the log beside the first membrane when there is one.
    private func lossCurve() throws -> EvaluationReport.LossCurve? {
        if let trainingLog { return try .read(URL(fileURLWithPath: trainingLog)) }
        guard let first = try membrane.first.map(MembraneChoice.init(parsing:)) else { return nil }
        let beside = URL(fileURLWithPath: first.path).deletingPathExtension().appendingPathExtension("jsonl")
        return FileManager.default.fileExists(atPath: beside.path) ? try .read(beside) : nil
    }

    private func writeReport(_ page: EvaluationReport, images: [[RGBImage]]) throws {
        guard let report else { return }
        let index = try EvaluationReportWriter.write(page, images: images, to: URL(fileURLWithPath: report))
        FileHandle.standardError.write(Data("wrote \(index.path)\n".utf8))
    }
}
