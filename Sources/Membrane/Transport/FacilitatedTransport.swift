import Diffusion
import Foundation

/// Facilitated transport (METHOD.md §3): per prompt, each gate slot of the attached membranes (one per membrane,
/// or one per concept slice of a merged membrane) gets
///
///     gate = max(similarity, min_gate) × weight
///
/// where similarity is the highest score of the prompt against the slot's concepts, each score counted as 0 below
/// its concept's `gate_threshold` (0 unless the training config set one). The gate is linear in the weight. With
/// transport off every slot runs at its membrane's weight, as a plain LoRA does in other tools.
///
/// The unconditional (negative-prompt) half of a classifier-free-guidance batch gets the same gates as its
/// prompt, as in the reference (infer_spm.py loads the gated weights into the network around the whole pipeline
/// call). The membrane was trained with the adapter on in both halves, and at gate 1 this is exactly the fused
/// LoRA other tools run; gating the unconditional half by its own prompt (usually "", far from every concept)
/// would instead multiply the membrane's effect by the guidance scale.
public struct FacilitatedTransport: Sendable {
    /// One attached membrane as the user chose it.
    public struct Membrane: Sendable, Equatable {
        public var name: String
        public var weight: Float
        /// The floor of each of the file's concepts: the user's `min_gate` for all of them, or what the file
        /// records per concept (0 where nothing is given).
        public var floors: [String: Float]
        public var defaultFloor: Float
        /// Each concept's `gate_threshold` as the file records it (0 where none is).
        public var thresholds: [String: Float]

        public init(name: String, weight: Float, floors: [String: Float] = [:], defaultFloor: Float = 0,
                    thresholds: [String: Float] = [:]) {
            self.name = name
            self.weight = weight
            self.floors = floors
            self.defaultFloor = defaultFloor
            self.thresholds = thresholds
        }

        /// A membrane file as chosen (`path[:weight[:min_gate]]`): the chosen floor wins over the file's.
        public init(file: MembraneFile, choice: MembraneChoice) {
            // Two concepts of one name (a merge of two membranes for it): the setting that keeps the membrane on
            // more wins — the higher floor, the lower threshold.
            func recorded(_ setting: KeyPath<MembraneConcept, Float?>, _ safer: (Float, Float) -> Float) -> [String: Float] {
                Dictionary(file.concepts.compactMap { concept in concept[keyPath: setting].map { (concept.name, $0) } },
                           uniquingKeysWith: safer)
            }
            self.init(name: choice.name, weight: choice.weight,
                      floors: choice.minGate == nil ? recorded(\.minGate, max) : [:],
                      defaultFloor: choice.minGate ?? 0,
                      thresholds: recorded(\.gateThreshold, min))
        }

        func floor(_ concepts: [String]) -> Float {
            concepts.map { floors[$0] ?? defaultFloor }.max() ?? defaultFloor
        }
    }

    /// How one slot's gate came about, for `--explain` and the screens.
    public struct Explanation: Sendable, Equatable {
        public var membrane: String
        /// The concept that scored highest (the slot's concepts joined when none could be scored).
        public var concept: String
        /// nil: not measured (transport off, or a file that records no concept: always on).
        public var similarity: Float?
        /// The concept's `gate_threshold`: a similarity below it counts as 0.
        public var threshold: Float = 0
        public var floor: Float
        public var weight: Float
        public var gate: Float

        /// "name  concept snoopy  similarity 0.912  floor 0.00  weight 1.00  gate 0.912", with
        /// "threshold 0.75" after the similarity when the concept has one.
        public var line: String {
            let measured = similarity.map { String(format: "%.3f", $0) } ?? "-"
            return "\(membrane)  concept \(concept.isEmpty ? "-" : concept)  similarity \(measured)  "
                + (threshold > 0 ? String(format: "threshold %.2f  ", threshold) : "")
                + String(format: "floor %.2f  weight %.2f  gate %.3f", floor, weight, gate)
        }
    }

    public let configuration: TransportConfig
    public let membranes: [Membrane]
    public let slots: [MembraneGateSlot]
    /// Every concept of the slots, encoded once.
    private let concepts: [String: TransportText]

    /// Prepares transport for membranes attached with `MembraneAdapters.adapters(for:)`: `slots` are their gate
    /// slots, `membranes[i]` the choice behind slot membrane index i, and `encode` gives a text's embedding
    /// (`PipelineModels.transportText`); concepts are encoded here, once.
    public init(configuration: TransportConfig, membranes: [Membrane], slots: [MembraneGateSlot],
                encode: (String) -> TransportText) {
        precondition(slots.allSatisfy { membranes.indices.contains($0.membrane) }, "FacilitatedTransport: a slot has no membrane")
        self.configuration = configuration
        self.membranes = membranes
        self.slots = slots
        var concepts: [String: TransportText] = [:]
        if configuration.enabled {
            for name in Set(slots.flatMap(\.concepts)) { concepts[name] = encode(name) }
        }
        self.concepts = concepts
    }

    /// Transport for `files` attached together with `MembraneAdapters.adapters(for:)`, file i as `choices[i]` chose it.
    public init(configuration: TransportConfig, files: [MembraneFile], choices: [MembraneChoice],
                encode: (String) -> TransportText) {
        precondition(files.count == choices.count, "FacilitatedTransport: \(files.count) files, \(choices.count) choices")
        self.init(configuration: configuration, membranes: zip(files, choices).map { Membrane(file: $0, choice: $1) },
                  slots: MembraneAdapters.gateSlots(for: files), encode: encode)
    }

    /// The gates of every slot for `prompt` (in slot order, what `GenerationRequest.adapterGates` takes), and
    /// why each has its value.
    public func gates(for prompt: TransportText) -> (gates: [Float], explanations: [Explanation]) {
        let explanations = slots.map { slot -> Explanation in
            let membrane = membranes[slot.membrane]
            guard configuration.enabled else {
                return Explanation(membrane: membrane.name, concept: slot.concepts.joined(separator: ", "), similarity: nil,
                                   floor: 0, weight: membrane.weight, gate: membrane.weight)
            }
            let floor = membrane.floor(slot.concepts)
            let scored = slot.concepts.compactMap { name in
                concepts[name].map { concept in
                    let score = configuration.similarity.score(prompt: prompt, concept: concept)
                    let threshold = membrane.thresholds[name] ?? 0
                    return (name: name, score: score, threshold: threshold, passed: score >= threshold ? score : 0)
                }
            }
            guard let best = scored.max(by: { ($0.passed, $0.score) < ($1.passed, $1.score) }) else {
                // Ranks no concept claims cannot be matched: they stay on at the weight, as a plain LoRA.
                return Explanation(membrane: membrane.name, concept: "", similarity: nil, floor: floor,
                                   weight: membrane.weight, gate: membrane.weight)
            }
            return Explanation(membrane: membrane.name, concept: best.name, similarity: best.score,
                               threshold: best.threshold, floor: floor, weight: membrane.weight,
                               gate: max(best.passed, floor) * membrane.weight)
        }
        return (explanations.map(\.gate), explanations)
    }

    /// The gates of conditioning that comes with no text to measure (an embedding given directly): each slot at
    /// its floor × weight, or at its weight with transport off or when it records no concept.
    public var gatesWithoutText: [Float] {
        slots.map { slot in
            let membrane = membranes[slot.membrane]
            guard configuration.enabled, !slot.concepts.isEmpty else { return membrane.weight }
            return membrane.floor(slot.concepts) * membrane.weight
        }
    }

    /// Gates per sample for a batch of prompts: [batch, slots], the layout `UNet2DConditionModel` takes, so one
    /// batch can carry prompts with different gates.
    public func gateTensor(for prompts: [TransportText]) -> Tensor {
        Tensor(prompts.flatMap { gates(for: $0).gates }, shape: [prompts.count, slots.count])
    }
}
