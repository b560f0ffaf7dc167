import Diffusion
import Foundation

/// What the paper tasks score images with: image and text embeddings in one space, unit length (CLIP).
public protocol ImageTextEmbedding: Sendable {
    func embed(images: [RGBImage]) throws -> [[Float]]
    func embed(texts: [String]) throws -> [[Float]]
}

/// Generates a paper task's prompts without and with membranes (same seed per row), as PNG files in one folder
/// that a later run resumes from: an image already there whose recorded parameters are this run's is read back,
/// not generated again.
public struct PaperTaskRun: Sendable {
    public var steps: Int
    public var guidance: Float
    public var transport: TransportConfig
    /// Every image at this square size, whatever the rows say (nil: each row's size, else the model's own).
    public var size: Int?
    public var longPrompts: LongPromptHandling
    public var imagesFolder: URL

    public init(steps: Int = 30, guidance: Float = 7.5, transport: TransportConfig = TransportConfig(), size: Int? = nil,
                longPrompts: LongPromptHandling = .truncate, imagesFolder: URL) {
        self.steps = steps
        self.guidance = guidance
        self.transport = transport
        self.size = size
        self.longPrompts = longPrompts
        self.imagesFolder = imagesFolder
    }

    public struct Generation: Sendable {
        public var prompt: TaskPrompt
        public var base: RGBImage
        public var withMembranes: RGBImage
        public var baseFile: URL
        public var membranesFile: URL
        public var gates: [FacilitatedTransport.Explanation]
        /// How many of the two images were read back from an earlier run.
        public var reused: Int
    }

    /// The file name a row's image gets: its id with anything but letters, digits, '-', '_' and '.' replaced.
    static func fileName(_ id: String, _ which: String) -> String {
        let safe = String(id.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return "\(safe.isEmpty ? "_" : safe)-\(which).png"
    }

    /// `models` must be the base model without membranes; `progress(done, total)` returns false to cancel.
    public func generations(models base: PipelineModels, modelName: String,
                            membranes: [(file: MembraneFile, choice: MembraneChoice)], prompts: [TaskPrompt],
                            progress: (Int, Int) -> Bool = { _, _ in true }) throws -> [Generation] {
        var models = base
        let files = membranes.map(\.file)
        models.unet = try base.unet.attaching(MembraneAdapters.adapters(for: files))
        let gating = FacilitatedTransport(configuration: transport, files: files, choices: membranes.map(\.choice),
                                          encode: { base.transportText($0, longPrompts: longPrompts) })
        try FileManager.default.createDirectory(at: imagesFolder, withIntermediateDirectories: true)
        let used = membranes.map { "\($0.choice.name):\($0.choice.weight)" + ($0.choice.minGate.map { ":\($0)" } ?? "") }
            .joined(separator: " ")
        var generations: [Generation] = []
        for (index, prompt) in prompts.enumerated() {
            var request = GenerationRequest(prompt: prompt.prompt, steps: steps, guidance: prompt.guidance ?? guidance,
                                            width: size ?? prompt.width ?? base.nativeImageSize,
                                            height: size ?? prompt.height ?? base.nativeImageSize, seed: prompt.seed)
            request.longPrompts = longPrompts
            var reused = 0
            /// The image at `file` when it records exactly `infotext`, else a new generation written there.
            func image(_ file: URL, infotext: String) throws -> RGBImage {
                if let earlier = try? PNGFile.read(from: file), earlier.text.contains(where: { $0 == ("parameters", infotext) }) {
                    reused += 1
                    return earlier.image
                }
                let generated = try models.generate(request).image
                try PNGFile.write(generated, text: [("parameters", infotext)], to: file)
                return generated
            }
            let baseFile = imagesFolder.appendingPathComponent(Self.fileName(prompt.id, "base"))
            let original = try image(baseFile, infotext: request.infotext(modelName: modelName))
            let (gates, explanations) = gating.gates(for: models.transportText(prompt.prompt, longPrompts: longPrompts))
            request.adapterGates = gates
            let membranesFile = imagesFolder.appendingPathComponent(Self.fileName(prompt.id, "membranes"))
            let erased = try image(membranesFile, infotext: request.infotext(modelName: modelName, extra: [
                (key: "Membranes", value: used), (key: "Transport", value: transport.commandLineName),
                (key: "Gates", value: gates.map { String(format: "%.3f", $0) }.joined(separator: " ")),
            ]))
            generations.append(Generation(prompt: prompt, base: original, withMembranes: erased, baseFile: baseFile,
                                          membranesFile: membranesFile, gates: explanations, reused: reused))
            guard progress(index + 1, prompts.count) else { throw TrainingError.cancelled }
        }
        return generations
    }
}
