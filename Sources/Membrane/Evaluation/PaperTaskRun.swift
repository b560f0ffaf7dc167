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
    /// Rows generated together through the UNet (their images of one size and guidance in one batch).
    public var batchSize: Int

    public init(steps: Int = 30, guidance: Float = 7.5, transport: TransportConfig = TransportConfig(), size: Int? = nil,
                longPrompts: LongPromptHandling = .truncate, imagesFolder: URL, batchSize: Int = 4) {
        self.steps = steps
        self.guidance = guidance
        self.transport = transport
        self.size = size
        self.longPrompts = longPrompts
        self.imagesFolder = imagesFolder
        self.batchSize = max(batchSize, 1)
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
        // A row whose size the model cannot take stops the run before any image, naming the row.
        for prompt in prompts {
            let (width, height) = (size ?? prompt.width ?? base.nativeImageSize, size ?? prompt.height ?? base.nativeImageSize)
            guard width > 0, height > 0, width % base.sizeMultiple == 0, height % base.sizeMultiple == 0 else {
                throw PromptFileError(file: "prompt \(prompt.id)", line: nil,
                                      problem: "size \(width)×\(height) is not a positive multiple of \(base.sizeMultiple) (give --size)")
            }
        }
        try FileManager.default.createDirectory(at: imagesFolder, withIntermediateDirectories: true)
        let used = membranes.map { "\($0.choice.name):\($0.choice.weight)" + ($0.choice.minGate.map { ":\($0)" } ?? "") }
            .joined(separator: " ")
        /// One image a row needs: its request, where it goes and the parameters that file must record.
        struct Image {
            var request: GenerationRequest
            var file: URL
            var infotext: String
        }
        var generations: [Generation] = []
        for start in stride(from: 0, to: prompts.count, by: batchSize) {
            let rows = Array(prompts[start..<min(start + batchSize, prompts.count)])
            let gated = rows.map { gating.gates(for: models.transportText($0.prompt, longPrompts: longPrompts)) }
            let images: [[Image]] = zip(rows, gated).map { prompt, gated in
                var request = GenerationRequest(prompt: prompt.prompt, steps: steps, guidance: prompt.guidance ?? guidance,
                                                width: size ?? prompt.width ?? base.nativeImageSize,
                                                height: size ?? prompt.height ?? base.nativeImageSize, seed: prompt.seed)
                request.longPrompts = longPrompts
                let original = Image(request: request, file: imagesFolder.appendingPathComponent(Self.fileName(prompt.id, "base")),
                                     infotext: request.infotext(modelName: modelName))
                request.adapterGates = gated.gates
                let erased = Image(request: request, file: imagesFolder.appendingPathComponent(Self.fileName(prompt.id, "membranes")),
                                   infotext: request.infotext(modelName: modelName, extra: [
                                       (key: "Membranes", value: used), (key: "Transport", value: transport.commandLineName),
                                       (key: "Gates", value: gated.gates.map { String(format: "%.3f", $0) }.joined(separator: " ")),
                                   ]))
                return [original, erased]
            }
            // An image already there that records exactly these parameters is read back; the rest are generated,
            // those of one size and guidance in one batch.
            var found: [URL: RGBImage] = [:]
            for image in images.joined() {
                if let earlier = try? PNGFile.read(from: image.file), earlier.text.contains(where: { $0 == ("parameters", image.infotext) }) {
                    found[image.file] = earlier.image
                }
            }
            let missing = images.joined().filter { found[$0.file] == nil }
            var groups: [[Image]] = []
            for image in missing {
                let request = image.request
                if let index = groups.firstIndex(where: { $0[0].request.width == request.width && $0[0].request.height == request.height
                                                          && $0[0].request.guidance == request.guidance }) {
                    groups[index].append(image)
                } else {
                    groups.append([image])
                }
            }
            var generated: [URL: RGBImage] = [:]
            for group in groups {
                for (image, result) in zip(group, try models.generate(batch: group.map(\.request))) {
                    try PNGFile.write(result.image, text: [("parameters", image.infotext)], to: image.file)
                    generated[image.file] = result.image
                }
            }
            for (index, prompt) in rows.enumerated() {
                let (original, erased) = (images[index][0].file, images[index][1].file)
                generations.append(Generation(prompt: prompt, base: found[original] ?? generated[original]!,
                                              withMembranes: found[erased] ?? generated[erased]!, baseFile: original,
                                              membranesFile: erased, gates: gated[index].explanations,
                                              reused: [original, erased].filter { found[$0] != nil }.count))
            }
            guard progress(generations.count, prompts.count) else { throw TrainingError.cancelled }
        }
        return generations
    }
}
