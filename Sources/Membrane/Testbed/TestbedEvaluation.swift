import Diffusion
import Foundation

/// A testbed evaluation that cannot be scored: one line naming what was wrong.
public enum TestbedError: Error, CustomStringConvertible, Equatable {
    case noTargetPrompts(target: String)
    case noOtherPrompts(target: String)
    case imageSizesDiffer(prompt: String, base: String, withMembrane: String)

    public var description: String {
        switch self {
        case .noTargetPrompts(let target):
            "testbed evaluation of '\(target)': no generations for prompts that name it (expected at least one)"
        case .noOtherPrompts(let target):
            "testbed evaluation of '\(target)': no generations for prompts that do not name it (expected at least one)"
        case .imageSizesDiffer(let prompt, let base, let withMembrane):
            "testbed evaluation, prompt '\(prompt)': the base image is \(base) but the membrane's is \(withMembrane) (expected the same size)"
        }
    }
}

/// One prompt of an erasure evaluation: its text, the scene it describes (the attributes the detectors should
/// find) and the seed both generations use.
public struct TestbedPrompt: Codable, Sendable, Equatable {
    public var text: String
    public var scene: TestbedScene
    public var seed: UInt64
    /// The word (canonical or synonym) by which the prompt names the concept being erased; nil when it doesn't.
    public var targetWord: String?

    public init(text: String, scene: TestbedScene, seed: UInt64, targetWord: String?) {
        self.text = text
        self.scene = scene
        self.seed = seed
        self.targetWord = targetWord
    }

    /// Whether the prompt names the concept being erased.
    public var namesTarget: Bool { targetWord != nil }
}

/// The prompts an erasure of `target` is measured on: every word of the concept in every caption frame (the other
/// attributes drawn at random), and seeded random prompts whose scenes lack the concept.
public struct TestbedPromptSuite: Codable, Sendable, Equatable {
    public var target: TestbedConcept
    public var prompts: [TestbedPrompt]

    /// - Parameters:
    ///   - repeats: how many prompts (each with its own scene and seed) every word × frame pair gets.
    ///   - otherCount: how many prompts without the concept.
    public init(target: TestbedConcept, repeats: Int = 1, otherCount: Int = 100, seed: UInt64,
                world: TestbedWorld = TestbedWorld()) {
        self.target = target
        var generator = TestbedGenerator(seed: seed)
        var prompts: [TestbedPrompt] = []
        for word in target.words {
            for _ in 0..<max(repeats, 0) {
                for template in TestbedTemplate.allCases {
                    let scene = world.scene(using: &generator, requiring: target)
                    let wording = TestbedWording(randomFor: scene, using: &generator).naming(target, as: word)
                    prompts.append(TestbedPrompt(text: template.caption(wording), scene: scene, seed: generator.next(),
                                                 targetWord: word))
                }
            }
        }
        for _ in 0..<max(otherCount, 0) {
            let scene = world.scene(using: &generator, avoiding: [target])
            let text = scene.caption(using: &generator)
            prompts.append(TestbedPrompt(text: text, scene: scene, seed: generator.next(), targetWord: nil))
        }
        self.prompts = prompts
    }

    public var targetPrompts: [TestbedPrompt] { prompts.filter(\.namesTarget) }
    public var otherPrompts: [TestbedPrompt] { prompts.filter { !$0.namesTarget } }
}

/// What the base model and the model with a membrane drew for one prompt, from the same seed.
public struct TestbedGeneration: Sendable {
    public var prompt: TestbedPrompt
    public var base: RGBImage
    public var withMembrane: RGBImage
    /// How transport gated each membrane for the prompt.
    public var gates: [FacilitatedTransport.Explanation]

    public init(prompt: TestbedPrompt, base: RGBImage, withMembrane: RGBImage, gates: [FacilitatedTransport.Explanation] = []) {
        self.prompt = prompt
        self.base = base
        self.withMembrane = withMembrane
        self.gates = gates
    }
}

/// How often one attribute was read as the prompt intended, on the prompts that do not name the target.
public struct TestbedAttributeAccuracy: Codable, Sendable, Equatable {
    public var kind: TestbedConceptKind
    public var base: Double
    public var withMembrane: Double
}

/// How often the concept was erased from the prompts naming it by one word (synonyms are erased too, or not).
public struct TestbedWordErasure: Codable, Sendable, Equatable {
    public var word: String
    public var promptCount: Int
    public var erasureRate: Double
}

/// The result of `evaluate --task testbed`. Rates are shares in [0, 1].
public struct TestbedErasureReport: Codable, Sendable, Equatable, TaskReport {
    public var target: TestbedConcept
    public var kind: TestbedConceptKind
    public var targetPromptCount: Int
    public var otherPromptCount: Int
    /// Share of prompts naming the target whose membrane image does not show it (a colour: not among the colours
    /// found; a shape, texture or character: not the one found).
    public var erasureRate: Double
    /// Share of prompts naming the target whose base image shows it: how well the base model knew it.
    public var baseTargetPresence: Double
    /// The erasure rate for each word the prompts named the target by, in the order they first appear.
    public var words: [TestbedWordErasure]
    /// On the other prompts: the share of (prompt, attribute) pairs — colour, shape, texture or its absence,
    /// character or its absence — the detectors read as the prompt intended.
    public var baseAccuracy: Double
    public var membraneAccuracy: Double
    /// `membraneAccuracy / baseAccuracy`; absent when the base model got nothing right.
    public var preservation: Double?
    public var attributes: [TestbedAttributeAccuracy]
    /// Mean absolute difference per channel (intensities in [0, 1]) between base and membrane images of the other
    /// prompts, same seeds.
    public var pixelDrift: Double

    /// Scores `generations` (prompts naming `target` and prompts that don't) with `detector`.
    public init(target: TestbedConcept, generations: [TestbedGeneration],
                detector: TestbedDetector = TestbedDetector()) throws {
        let targeted = generations.filter(\.prompt.namesTarget)
        let others = generations.filter { !$0.prompt.namesTarget }
        guard !targeted.isEmpty else { throw TestbedError.noTargetPrompts(target: target.canonicalWord) }
        guard !others.isEmpty else { throw TestbedError.noOtherPrompts(target: target.canonicalWord) }
        for generation in generations {
            let base = generation.base, membrane = generation.withMembrane
            guard base.width == membrane.width, base.height == membrane.height else {
                throw TestbedError.imageSizesDiffer(prompt: generation.prompt.text, base: "\(base.width)×\(base.height)",
                                                    withMembrane: "\(membrane.width)×\(membrane.height)")
            }
        }
        self.target = target
        kind = target.kind
        targetPromptCount = targeted.count
        otherPromptCount = others.count

        let erased = targeted.map { !detector.detect($0.withMembrane).shows(target) }
        let shownByBase = targeted.filter { detector.detect($0.base).shows(target) }.count
        erasureRate = Double(erased.filter { $0 }.count) / Double(targeted.count)
        baseTargetPresence = Double(shownByBase) / Double(targeted.count)
        var wordOrder: [String] = []
        var wordCounts: [String: (prompts: Int, erased: Int)] = [:]
        for (generation, wasErased) in zip(targeted, erased) {
            let word = generation.prompt.targetWord ?? target.canonicalWord
            if wordCounts[word] == nil { wordOrder.append(word) }
            wordCounts[word, default: (0, 0)].prompts += 1
            if wasErased { wordCounts[word, default: (0, 0)].erased += 1 }
        }
        words = wordOrder.map { word in
            let counts = wordCounts[word] ?? (0, 0)
            return TestbedWordErasure(word: word, promptCount: counts.prompts,
                                      erasureRate: Double(counts.erased) / Double(max(counts.prompts, 1)))
        }

        let baseReadings = others.map { detector.detect($0.base) }
        let membraneReadings = others.map { detector.detect($0.withMembrane) }
        func share(_ readings: [TestbedDetection], _ kind: TestbedConceptKind) -> Double {
            Double(zip(readings, others).filter { $0.agrees(with: $1.prompt.scene, on: kind) }.count) / Double(others.count)
        }
        attributes = TestbedConceptKind.allCases.map {
            TestbedAttributeAccuracy(kind: $0, base: share(baseReadings, $0), withMembrane: share(membraneReadings, $0))
        }
        baseAccuracy = attributes.map(\.base).reduce(0, +) / Double(attributes.count)
        membraneAccuracy = attributes.map(\.withMembrane).reduce(0, +) / Double(attributes.count)
        preservation = baseAccuracy > 0 ? membraneAccuracy / baseAccuracy : nil

        var difference = 0, channels = 0
        for generation in others {
            for (a, b) in zip(generation.base.pixels, generation.withMembrane.pixels) {
                difference += abs(Int(a) - Int(b))
            }
            channels += generation.base.pixels.count
        }
        pixelDrift = Double(difference) / (255 * Double(channels))
    }

    /// The report as a plain-text table.
    public var table: String {
        func percent(_ share: Double) -> String { String(format: "%5.1f%%", 100 * share) }
        let name = "\"\(target.canonicalWord)\" (\(kind.rawValue))"
        var lines = [
            "Erasure of \(name) on the testbed",
            "                                 base   membrane",
            "prompts naming it (\(targetPromptCount))",
            "  \(target.canonicalWord) found".padding(toLength: 31, withPad: " ", startingAt: 0)
                + "\(percent(baseTargetPresence))     \(percent(1 - erasureRate))   erasure rate \(percent(erasureRate))",
        ]
        for word in words {
            lines.append("    named \"\(word.word)\" (\(word.promptCount))".padding(toLength: 46, withPad: " ", startingAt: 0)
                         + "erasure rate \(percent(word.erasureRate))")
        }
        lines.append("other prompts (\(otherPromptCount)), read as prompted")
        for attribute in attributes {
            lines.append("  \(attribute.kind.rawValue)".padding(toLength: 31, withPad: " ", startingAt: 0)
                         + "\(percent(attribute.base))     \(percent(attribute.withMembrane))")
        }
        lines.append("  all attributes".padding(toLength: 31, withPad: " ", startingAt: 0)
                     + "\(percent(baseAccuracy))     \(percent(membraneAccuracy))   preservation "
                     + (preservation.map(percent) ?? "n/a (base 0%)"))
        lines.append(String(format: "pixel drift on other prompts: %.4f (mean |Δ| per channel, 0–1)", pixelDrift))
        return lines.joined(separator: "\n")
    }
}
