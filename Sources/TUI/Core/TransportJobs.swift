import Diffusion
import Foundation
import Membrane

/// Facilitated transport over the rack's membranes, set up the way `spm-workbench generate` sets it up: one
/// `FacilitatedTransport.Membrane(file:choice:)` per attached file, the files' gate slots, and the model's
/// `transportText` as the encoder. Each choice carries the rack's weight (0 for a membrane switched off) and
/// min_gate (nil: the floor the file records).
public struct RackTransport: Sendable, Equatable {
    public var configuration: TransportConfig
    /// One per attached membrane, in gate order.
    public var choices: [MembraneChoice]

    public init(configuration: TransportConfig, choices: [MembraneChoice]) {
        self.configuration = configuration
        self.choices = choices
    }

    /// The transport for `loaded`'s membranes (their concepts encoded once); nil when the rack and the attached
    /// files disagree (a membrane is being attached).
    public func make(for loaded: ModelStore.Loaded) -> FacilitatedTransport? {
        guard choices.count == loaded.files.count else { return nil }
        let models = loaded.models
        return FacilitatedTransport(configuration: configuration, files: loaded.files, choices: choices,
                                    encode: { models.transportText($0) })
    }
}

/// One gate slot's gate for a prompt, with the rack membrane it belongs to.
public struct SlotGate: Sendable, Equatable {
    public var membrane: Int
    public var explanation: FacilitatedTransport.Explanation

    public init(membrane: Int, explanation: FacilitatedTransport.Explanation) {
        self.membrane = membrane
        self.explanation = explanation
    }
}

public struct TransportGatesError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

/// Computes the gates the rack shows for the generate prompt, off the UI thread (it runs the text encoder).
public struct TransportGatesJob: CoreJob {
    public let transport: RackTransport
    public let prompt: String
    public let store: ModelStore
    public let generation: Int

    public init(transport: RackTransport, prompt: String, store: ModelStore, generation: Int) {
        self.transport = transport
        self.prompt = prompt
        self.store = store
        self.generation = generation
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let (transport, prompt, store) = (self.transport, self.prompt, self.store)
        let result: Result<[SlotGate], TransportGatesError> = await onOwnThread {
            guard let loaded = store.loaded else { return .failure(TransportGatesError(description: "no model is loaded")) }
            guard let facilitated = transport.make(for: loaded) else {
                return .failure(TransportGatesError(description: "the membranes are still being attached"))
            }
            let explanations = facilitated.gates(for: loaded.models.transportText(prompt)).explanations
            return .success(zip(facilitated.slots, explanations).map { SlotGate(membrane: $0.membrane, explanation: $1) })
        }
        guard !Task.isCancelled else { return }
        post(.transportGates(generation: generation, result))
    }
}
