import Diffusion
import Foundation

/// Several concepts erased at once, as moderation teams do (one membrane per concept, or one merged file): for
/// every concept of the testbed world, prompts that name it, so each setting of membranes shows how much of each
/// concept it keeps — the erased ones (ideally nothing) and every other (ideally everything).
public struct TestbedMatrixSuite: Codable, Sendable, Equatable {
    public struct Prompt: Codable, Sendable, Equatable {
        /// The concept the prompt names and whose presence is read.
        public var probe: TestbedConcept
        public var text: String
        public var scene: TestbedScene
        public var seed: UInt64
    }

    public var prompts: [Prompt]

    /// `perConcept` prompts for each concept of the world; their scenes keep out every erased concept other than
    /// the one named, so a prompt for "blue" cannot lose a circle to a circle membrane and count against blue.
    public init(erased: [TestbedConcept], perConcept: Int = 4, seed: UInt64, world: TestbedWorld = TestbedWorld()) {
        var generator = TestbedGenerator(seed: seed)
        var prompts: [Prompt] = []
        for probe in world.concepts {
            for _ in 0..<max(perConcept, 0) {
                let scene = world.scene(using: &generator, requiring: probe, avoiding: erased.filter { $0 != probe })
                prompts.append(Prompt(probe: probe, text: scene.caption(using: &generator), scene: scene,
                                      seed: generator.next()))
            }
        }
        self.prompts = prompts
    }
}

/// A set of membranes attached together, under one name (a file's name, or "together").
public struct TestbedMatrixSetting: Sendable {
    public var name: String
    public var membranes: [(file: MembraneFile, choice: MembraneChoice)]

    public init(name: String, membranes: [(file: MembraneFile, choice: MembraneChoice)]) {
        self.name = name
        self.membranes = membranes
    }

    /// The concepts the setting's membranes erase, by testbed concept (names that are not testbed words are left
    /// out).
    public var erased: [TestbedConcept] {
        var concepts: [TestbedConcept] = []
        for concept in membranes.flatMap({ $0.file.concepts }).compactMap({ TestbedConcept(word: $0.name) })
        where !concepts.contains(concept) {
            concepts.append(concept)
        }
        return concepts
    }
}

/// Which concepts each setting's images still show: for every prompt, whether the base image and each setting's
/// image (same seed, facilitated transport as configured) show the concept the prompt names.
public struct TestbedMatrixRun: Sendable {
    public var steps: Int
    public var guidance: Float
    public var transport: TransportConfig
    public var detector: TestbedDetector
    /// Prompts generated together through the UNet.
    public var batchSize: Int

    public init(steps: Int = 20, guidance: Float = 7.5, transport: TransportConfig = TransportConfig(),
                detector: TestbedDetector = TestbedDetector(), batchSize: Int = 8) {
        self.steps = steps
        self.guidance = guidance
        self.transport = transport
        self.detector = detector
        self.batchSize = max(batchSize, 1)
    }

    /// `models` must be the base model without membranes; `progress(done, total)` returns false to cancel.
    public func report(models base: PipelineModels, settings: [TestbedMatrixSetting], suite: TestbedMatrixSuite,
                       progress: (Int, Int) -> Bool = { _, _ in true }) throws -> TestbedMatrixReport {
        let size = base.nativeImageSize
        func request(_ prompt: TestbedMatrixSuite.Prompt) -> GenerationRequest {
            GenerationRequest(prompt: prompt.text, steps: steps, guidance: guidance, width: size, height: size, seed: prompt.seed)
        }
        let total = suite.prompts.count * (settings.count + 1)
        var done = 0
        /// Whether each prompt's image, generated `batchSize` prompts at a time, shows the concept it names.
        func shows(_ models: PipelineModels, gates: (Int) -> [Float]?) throws -> [Bool] {
            var shown: [Bool] = []
            for start in stride(from: 0, to: suite.prompts.count, by: batchSize) {
                let indices = start..<min(start + batchSize, suite.prompts.count)
                let images = try models.generate(batch: indices.map { index in
                    var generation = request(suite.prompts[index])
                    generation.adapterGates = gates(index)
                    return generation
                }).map(\.image)
                shown += zip(indices, images).map { detector.detect($1).shows(suite.prompts[$0].probe) }
                done += indices.count
                guard progress(done, total) else { throw TrainingError.cancelled }
            }
            return shown
        }
        // Transport reads the text encoder, which membranes do not touch: each prompt is encoded once.
        let texts = suite.prompts.map { base.transportText($0.text) }
        let baseShows = try shows(base, gates: { _ in nil })
        var columns: [TestbedMatrixReport.Column] = []
        for setting in settings {
            var models = base
            let files = setting.membranes.map(\.file)
            models.unet = try base.unet.attaching(MembraneAdapters.adapters(for: files))
            let gating = FacilitatedTransport(configuration: transport, files: files, choices: setting.membranes.map(\.choice),
                                              encode: { base.transportText($0) })
            let membraneShows = try shows(models, gates: { gating.gates(for: texts[$0]).gates })
            columns.append(TestbedMatrixReport.Column(setting: setting.name, erased: setting.erased,
                                                      probes: suite.prompts.map(\.probe), baseShows: baseShows,
                                                      membraneShows: membraneShows))
        }
        return TestbedMatrixReport(columns: columns)
    }
}

/// Per setting and concept: the share of prompts naming the concept whose membrane image still shows it, among
/// those whose base image does.
public struct TestbedMatrixReport: Codable, Sendable, Equatable, TaskReport {
    public struct Cell: Codable, Sendable, Equatable {
        public var concept: TestbedConcept
        public var erased: Bool
        /// Prompts whose base image shows the concept: the denominator.
        public var shownByBase: Int
        /// nil when the base model drew the concept for none of its prompts.
        public var kept: Double?
    }

    public struct Column: Codable, Sendable, Equatable {
        public var setting: String
        public var erased: [TestbedConcept]
        public var cells: [Cell]
        /// Mean of 1 − kept over the setting's erased concepts.
        public var erasure: Double?
        /// Mean of kept over every other concept.
        public var preservation: Double?

        /// Scores one setting: `probes[i]` is the concept prompt i names, `baseShows[i]` and `membraneShows[i]`
        /// whether the two images show it.
        public init(setting: String, erased: [TestbedConcept], probes: [TestbedConcept], baseShows: [Bool],
                    membraneShows: [Bool]) {
            self.setting = setting
            self.erased = erased
            var order: [TestbedConcept] = []
            for probe in probes where !order.contains(probe) { order.append(probe) }
            cells = order.map { concept in
                let asked = probes.indices.filter { probes[$0] == concept && baseShows[$0] }
                let kept = asked.filter { membraneShows[$0] }.count
                return Cell(concept: concept, erased: erased.contains(concept), shownByBase: asked.count,
                            kept: asked.isEmpty ? nil : Double(kept) / Double(asked.count))
            }
            func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
            erasure = mean(cells.filter(\.erased).compactMap(\.kept).map { 1 - $0 })
            preservation = mean(cells.filter { !$0.erased }.compactMap(\.kept))
        }
    }

    public var columns: [Column]

    public init(columns: [Column]) {
        self.columns = columns
    }

    /// The matrix as text: a row per concept (erased ones marked ✗ in the settings that erase them), a column per
    /// setting, then each setting's erasure and preservation.
    public var table: String {
        func percent(_ share: Double?) -> String { share.map { String(format: "%5.1f%%", 100 * $0) } ?? "   – " }
        let width = max(12, (columns.map(\.setting.count).max() ?? 0) + 2)
        func cell(_ text: String) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        var lines = ["Concepts kept (share of prompts naming each whose image still shows it, where the base model's does)",
                     "concept".padding(toLength: 12, withPad: " ", startingAt: 0) + columns.map { cell($0.setting) }.joined()]
        for (row, concept) in (columns.first?.cells.map(\.concept) ?? []).enumerated() {
            lines.append(concept.canonicalWord.padding(toLength: 12, withPad: " ", startingAt: 0) + columns.map { column in
                let entry = column.cells[row]
                return cell((entry.erased ? "✗ " : "") + percent(entry.kept))
            }.joined())
        }
        lines.append("erasure".padding(toLength: 12, withPad: " ", startingAt: 0) + columns.map { cell(percent($0.erasure)) }.joined())
        lines.append("preservation".padding(toLength: 12, withPad: " ", startingAt: 0)
                     + columns.map { cell(percent($0.preservation)) }.joined())
        return lines.joined(separator: "\n")
    }
}
