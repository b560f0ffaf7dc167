import ArgumentParser
import Diffusion
import Foundation
import Membrane

extension LongPromptHandling: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}

/// `--precision`'s help, shared by the commands that run the models.
let precisionHelp = ArgumentHelp(
    "The linear layers' and convolutions' arithmetic: fp32 (exact), or bf16 (operands rounded to bfloat16, sums in fp32, on oneDNN; about 1.5× faster on CPUs with AVX-512 BF16 or AMX).",
    valueName: "fp32|bf16")

/// `spm-workbench generate`: one text-to-image generation, written as a PNG whose `parameters` text chunk
/// records how it was made (in AUTOMATIC1111's layout, so tools that read those recognise it).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate an image from a prompt and write it as a PNG.",
        discussion: """
            MODEL is a diffusers folder (with model_index.json) or a single-file .safetensors checkpoint \
            (SD 1.x, SD 2.x, SDXL/Pony/Illustrious; detected from its tensors). A seed gives the same initial \
            noise as diffusers with a CPU generator (torch.randn), so images can be compared across tools.
            """
    )

    @Option(help: "A diffusers model folder or a single-file .safetensors checkpoint (default: the testbed model shipped in models/testbed).")
    var model: String?

    @Option(help: "For a single-file checkpoint: a diffusers folder with its configs and tokenizers (default: the bundled SD1.5/SD2.1/SDXL configs for the detected family).")
    var config: String?

    @Option(help: "For a diffusers folder: the precision variant of its weight files (fp16, bf16 …; default: full precision, or the only variant there is).")
    var variant: String?

    @Option(help: "What to draw.")
    var prompt: String

    @Option(help: "What to steer away from (default: none; SDXL then uses zero embeddings, as diffusers does).")
    var negative: String?

    @Option(help: "Denoising steps.")
    var steps = 30

    @Option(help: "Classifier-free guidance scale (1 disables guidance).")
    var guidance: Float = 7.5

    @Option(help: "Square image size in pixels (overrides the model's native size).")
    var size: Int?

    @Option(help: "Image width in pixels.")
    var width: Int?

    @Option(help: "Image height in pixels.")
    var height: Int?

    @Option(help: "Seed of the initial noise.")
    var seed: UInt64 = 0

    @Option(help: "Sampler: ddim, euler, euler-a or dpmpp-2m.")
    var scheduler = "ddim"

    @Option(help: "Skip this many final text-encoder layers.")
    var clipSkip: Int?

    @Option(help: ArgumentHelp("Prompts past 75 tokens: truncate (as diffusers) or chunk (every 75-token window encoded, as AUTOMATIC1111 and ComfyUI).", valueName: "truncate|chunk"))
    var longPrompts: LongPromptHandling = .truncate

    @Option(help: "A safetensors file whose one tensor is the initial noise [1, 4, h, w] (instead of the seed's).")
    var latents: String?

    @Option(name: .long, help: ArgumentHelp("A membrane to apply, with an optional strength and gate floor (path.safetensors:0.8, or path.safetensors:0.8:1 for never below gate 1, i.e. always on); repeatable. Each membrane, and each concept of a merged one, keeps its own gate.", valueName: "path[:weight[:min_gate]]"))
    var membrane: [String] = []

    @Option(help: ArgumentHelp("Facilitated transport: gate each membrane by the prompt's similarity to its concepts (embeddings: the prompt's words matched to the concept's by their vocabulary vectors; reference: the paper's clip-cosine/token share; tokens: matching the text encoder's output states without BOS/padding), or off (full weight on every prompt).", valueName: TransportConfig.commandLineChoices.joined(separator: "|")))
    var transport = "embeddings"

    @Flag(help: "Print the prompt's gate for each membrane (concept, similarity, floor, weight, gate).")
    var explain = false

    @Option(help: precisionHelp)
    var precision: ComputePrecision = .fp32

    @Option(name: .shortAndLong, help: "The PNG to write.")
    var out: String

    func validate() throws {
        guard SchedulerKind(rawValue: scheduler) != nil else {
            throw ValidationError("--scheduler '\(scheduler)': expected one of \(SchedulerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard steps >= 1 else { throw ValidationError("--steps \(steps): expected at least 1") }
        guard guidance >= 0 else { throw ValidationError("--guidance \(guidance): expected a number ≥ 0") }
        guard TransportConfig(commandLine: transport) != nil else {
            throw ValidationError("--transport '\(transport)': expected one of \(TransportConfig.commandLineChoices.joined(separator: ", "))")
        }
        if size != nil && (width != nil || height != nil) {
            throw ValidationError("--size cannot be combined with --width/--height")
        }
    }

    func run() throws {
        try reportingErrors {
            ComputeEnvironment.setPrecision(precision)
            let model = try TUICommand.modelOrShippedTestbed(model)
            var models = try PipelineModels.load(from: URL(fileURLWithPath: model),
                                                 configFolder: config.map { URL(fileURLWithPath: $0) }, variant: variant,
                                                 layerWeights: precision)
            if !models.unusedTensors.isEmpty {
                FileHandle.standardError.write(Data("note: \(models.loadReport.summary) (inspect lists them)\n".utf8))
            }
            let membranes = try membrane.map(MembraneChoice.init(parsing:))
            let layout = MembraneLayout(unet: models.unet.configuration)
            let files = try MembraneFile.read(membranes.map { URL(fileURLWithPath: $0.path) }, layout: layout)
            if !files.isEmpty { models.unet = try models.unet.attaching(MembraneAdapters.adapters(for: files)) }
            let native = models.nativeImageSize
            var request = GenerationRequest(prompt: prompt, negativePrompt: negative, steps: steps, guidance: guidance,
                                            width: size ?? width ?? native, height: size ?? height ?? native, seed: seed,
                                            scheduler: SchedulerKind(rawValue: scheduler) ?? .ddim, clipSkip: clipSkip)
            request.longPrompts = longPrompts
            if let latents {
                let file = try WeightFile.open(URL(fileURLWithPath: latents))
                guard file.tensors.count == 1, let info = file.tensors.first else {
                    throw ValidationError("\(latents): expected exactly one tensor (the initial noise), found \(file.tensors.count)")
                }
                request.initialLatents = Tensor(try file.floats(info.name), shape: info.shape)
            }
            if !files.isEmpty {
                let loaded = models
                let transport = FacilitatedTransport(
                    configuration: TransportConfig(commandLine: self.transport) ?? TransportConfig(),
                    files: files, choices: membranes, encode: { loaded.transportText($0, clipSkip: clipSkip) })
                let (gates, explanations) = transport.gates(for: models.transportText(prompt, clipSkip: clipSkip, longPrompts: longPrompts))
                request.adapterGates = gates
                if explain {
                    print("gates for \"\(prompt)\" (transport \(self.transport)):")
                    explanations.forEach { print("  " + $0.line) }
                }
            }
            let started = Date()
            let result = try models.generate(request) { step, total in
                FileHandle.standardError.write(Data("\rstep \(step)/\(total)".utf8))
                return true
            }
            FileHandle.standardError.write(Data("\n".utf8))
            let modelName = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
            let used = membranes.map { "\($0.name):\($0.weight)" + ($0.minGate.map { ":\($0)" } ?? "") }
            let membraneFields = used.isEmpty ? [] : [
                (key: "Membranes", value: used.joined(separator: " ")), (key: "Transport", value: transport),
                (key: "Gates", value: (request.adapterGates ?? []).map { String(format: "%.3f", $0) }.joined(separator: " ")),
            ]
            let precisionField = precision == .fp32 ? [] : [(key: "Precision", value: precision.rawValue)]
            let infotext = request.infotext(modelName: modelName, extra: membraneFields + precisionField)
            try PNGFile.write(result.image, text: [(key: "parameters", value: infotext)], to: URL(fileURLWithPath: out))
            print("wrote \(out) (\(request.width)×\(request.height), \(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        }
    }
}
