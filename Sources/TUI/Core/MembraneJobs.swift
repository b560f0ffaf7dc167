import Diffusion
import Foundation
import Membrane

/// Reads one more membrane and attaches it to the loaded model after the ones already there (so membrane i keeps
/// gate i), the way `LoadModelJob` attaches those of `--membrane`.
public struct AttachMembraneJob: CoreJob {
    public let choice: MembraneChoice
    public let store: ModelStore

    public init(choice: MembraneChoice, store: ModelStore) {
        self.choice = choice
        self.store = store
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        guard let loaded = store.loaded else {
            post(.log(LogEntry(.error, "no model is loaded: membranes attach to a model (start with --model PATH)")))
            return
        }
        let choice = self.choice
        let result = await onOwnThread {
            Result {
                let layout = MembraneLayout(unet: loaded.models.unet.configuration)
                let file = try MembraneFile.read(URL(fileURLWithPath: choice.path), layout: layout)
                var updated = loaded
                updated.files.append(file)
                updated.membranes.append(choice)
                updated.models.unet = try loaded.models.unet.attaching(MembraneAdapters.adapters(for: updated.files))
                return updated
            }
        }
        guard !Task.isCancelled else { return }
        switch result {
        case .success(let updated):
            store.set(updated)
            post(.log(LogEntry(.info, "attached membrane \(choice.path) (\(updated.files.last?.layers.count ?? 0) layers)")))
            post(.membranesAttached(updated.membranes))
        case .failure(let error):
            post(.log(LogEntry(.error, "\(choice.path): \(error)")))
        }
    }
}

/// Writes the rack's current mix as one membrane: `MembraneMerge.concatenate` with each membrane's weight, then
/// `MembraneFile.write` (temporary file and rename) — what `spm-workbench merge --weights` does.
public struct MergeMembranesJob: CoreJob {
    public let inputs: [(file: MembraneFile, weight: Float)]
    public let layout: MembraneLayout
    public let output: String

    public init(inputs: [(file: MembraneFile, weight: Float)], layout: MembraneLayout, output: String) {
        self.inputs = inputs
        self.layout = layout
        self.output = output
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let (inputs, layout, output) = (self.inputs, self.layout, self.output)
        let url = URL(fileURLWithPath: output)
        let result = await onOwnThread {
            Result {
                let merged = try MembraneMerge.concatenate(inputs, title: url.deletingPathExtension().lastPathComponent)
                try merged.write(to: url, layout: layout)
                return merged
            }
        }
        switch result {
        case .success(let merged):
            let weights = inputs.map { "\($0.file.title):\(formatWeight($0.weight))" }.joined(separator: " ")
            post(.log(LogEntry(.info, "wrote merged membrane \(output) (\(weights); rank \(merged.rank))")))
        case .failure(let error):
            post(.log(LogEntry(.error, "\(output): \(error)")))
        }
    }
}

/// Weights as the rack shows them: two decimals ("0.95", "-1.00").
public func formatWeight(_ weight: Float) -> String { String(format: "%.2f", weight) }
