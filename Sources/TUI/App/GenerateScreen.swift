import Diffusion
import Membrane
import Foundation

/// Prompt in, image out: generates with the loaded model in the core and shows the result — with the membranes
/// on or off, or both side by side (the same seed, the frozen model beside the membrane-equipped one).
public final class GenerateScreen: Screen {
    public let title = "Generate"
    public let keyScope = KeyScope.generate
    public private(set) var prompt = "a cat painting"
    public private(set) var negativePrompt = ""
    public private(set) var seed: UInt64 = 0
    public private(set) var steps = 20
    public private(set) var state = State.waitingForModel
    /// Whether generations apply the rack's membranes (each that is on, at its weight).
    public private(set) var membranesOn = true
    /// The last result: one image, or original and membrane side by side.
    public private(set) var images: [(label: String, image: RGBImage)] = []
    private var lastRequest: GenerationRequest?
    /// Whether the image shown (or being made) compares original and membranes: how a rack change re-renders it.
    private var lastCompare: Bool?
    private var pendingLabels: [String] = []
    /// The rack's mix ("name:0.95 …") the membrane images were made with: the one being made, the one shown.
    private var pendingMix = ""
    public private(set) var shownMix = ""
    private var generation = 0
    private let models: ModelStore
    private let rack: MembraneRack
    private let outputFolder: String

    public enum State: Equatable {
        case waitingForModel, ready
        case running(step: Int, of: Int)
        case finished(seconds: Double)
        case failed(String)
        case cancelled
    }

    public init(models: ModelStore, rack: MembraneRack = MembraneRack(), outputFolder: String = "out") {
        self.models = models
        self.rack = rack
        self.outputFolder = outputFolder
    }

    public func perform(_ action: Action) -> [ScreenEffect] {
        switch action {
        case .editPrompt:
            return [.prompt(TextPrompt(label: "Prompt", value: prompt, validate: { $0.isEmpty ? "enter a prompt" : nil },
                                       accept: { [weak self] in self?.prompt = $0; return [] }))]
        case .editNegativePrompt:
            return [.prompt(TextPrompt(label: "Negative prompt", value: negativePrompt, validate: { _ in nil },
                                       accept: { [weak self] in self?.negativePrompt = $0; return [] }))]
        case .editSeed:
            return [.prompt(TextPrompt(label: "Seed", value: "\(seed)",
                                       validate: { UInt64($0) == nil ? "expected a whole number ≥ 0" : nil },
                                       accept: { [weak self] in self?.seed = UInt64($0) ?? 0; return [] }))]
        case .editSteps:
            return [.prompt(TextPrompt(label: "Steps", value: "\(steps)",
                                       validate: { (Int($0) ?? 0) >= 1 && (Int($0) ?? 0) <= 1000 ? nil : "expected 1…1000" },
                                       accept: { [weak self] in self?.steps = Int($0) ?? 20; return [] }))]
        case .startGeneration:
            return start(compare: false)
        case .compareGeneration:
            guard !rack.entries.isEmpty else { return [.hint("no membranes loaded (start with --membrane PATH)")] }
            return start(compare: true)
        case .toggleMembranes:
            guard !rack.entries.isEmpty else { return [.hint("no membranes loaded (start with --membrane PATH)")] }
            membranesOn.toggle()
            return [.log(LogEntry(.info, "membranes \(membranesOn ? "on" : "off")"))] + membranesChanged()
        case .cancelGeneration:
            guard case .running = state else { return [.hint("nothing is generating")] }
            return [.cancelJob(.generation)]
        case .saveImage:
            return save()
        default:
            return []
        }
    }

    /// The preview follows the rack: a toggled membrane or a changed weight generates the shown image again.
    public func membranesChanged() -> [ScreenEffect] {
        guard let lastCompare, models.loaded != nil else { return [] }
        return start(compare: lastCompare)
    }

    private func start(compare: Bool) -> [ScreenEffect] {
        guard let loaded = models.loaded else { return [.hint("no model is loaded yet (start with --model PATH)")] }
        let size = loaded.models.nativeImageSize
        let plain = GenerationRequest(prompt: prompt, negativePrompt: negativePrompt.isEmpty ? nil : negativePrompt,
                                      steps: steps, width: size, height: size, seed: seed)
        var withMembranes = plain
        // One gate per gate slot (a merged membrane has a slot per concept); the job puts facilitated transport's
        // gates for the prompt in their place.
        withMembranes.adapterGates = rack.entries.isEmpty ? nil
            : MembraneAdapters.gates(perMembrane: rack.gates, slots: MembraneAdapters.gateSlots(for: loaded.files))
        let applied = !rack.mix.isEmpty
        let requests: [GenerationRequest]
        if compare {
            requests = [plain, withMembranes]
            pendingLabels = ["original", "membranes"]
        } else {
            requests = [membranesOn ? withMembranes : plain]
            pendingLabels = [membranesOn && applied ? "membranes" : "original"]
        }
        pendingMix = applied ? rack.mixDescription : "all off"
        lastCompare = compare
        generation += 1
        lastRequest = requests.last
        state = .running(step: 0, of: requests.count * steps)
        return [.startJob(GenerateJob(requests: requests, store: models, generation: generation,
                                      transport: rack.facilitatedTransport), .generation)]
    }

    /// Writes each shown image (`generate-seed<seed>.png`, or `-original`/`-membranes` when comparing).
    private func save() -> [ScreenEffect] {
        guard !images.isEmpty, let request = lastRequest, let loaded = models.loaded else { return [.hint("no image to write yet")] }
        let modelName = URL(fileURLWithPath: loaded.path).deletingPathExtension().lastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
            return try images.map { label, image in
                let suffix = images.count > 1 ? "-\(label)" : ""
                let url = URL(fileURLWithPath: outputFolder).appendingPathComponent("generate-seed\(request.seed)\(suffix).png")
                var extra: [(key: String, value: String)] = []
                if label == "membranes" { extra = [(key: "Membranes", value: shownMix)] }
                try PNGFile.write(image, text: [(key: "parameters", value: request.infotext(modelName: modelName, extra: extra))], to: url)
                return .log(LogEntry(.info, "wrote \(url.path)"))
            }
        } catch {
            return [.log(LogEntry(.error, "\(error)"))]
        }
    }

    public func receive(_ event: CoreEvent) -> Bool {
        switch event {
        case .modelLoaded:
            rack.sync(with: models.loaded?.membranes ?? [])
            if state == .waitingForModel { state = .ready }
            return true
        case .membranesAttached(let attached):
            rack.sync(with: attached)
            return true
        case .generation(let number, let news) where number == generation:
            switch news {
            case .progress(let step, let total): state = .running(step: step, of: total)
            case .finished(let results, let seconds):
                images = Array(zip(pendingLabels, results)).map { (label: $0.0, image: $0.1) }
                shownMix = pendingMix
                state = .finished(seconds: seconds)
            case .failed(let message): state = .failed(message)
            case .cancelled: state = .cancelled
            }
            return true
        default:
            return false
        }
    }

    public func draw(on surface: inout Surface, context: ScreenContext) {
        let sideWidth = min(44, max(24, surface.width / 3))
        let (settingsArea, imageArea) = surface.local.splitRight(surface.width - sideWidth)
        surface.within(settingsArea) { side in
            Panel(title: "Settings").draw(on: &side) { inner in drawSettings(on: &inner) }
        }
        guard !images.isEmpty else {
            surface.within(imageArea) { area in
                Panel(title: "Image").draw(on: &area) { inner in
                    inner.write(truncated("Press g to generate (c: original and membranes side by side).", toWidth: inner.width),
                                x: 0, y: 0, role: .muted)
                }
            }
            return
        }
        // One panel per image, side by side.
        var remaining = imageArea
        for (index, shown) in images.enumerated() {
            let width = remaining.width / (images.count - index)
            let (panelArea, rest) = remaining.splitRight(remaining.width - width)
            remaining = rest
            surface.within(panelArea) { area in
                let mix = shown.label == "membranes" ? " · \(shownMix)" : ""
                Panel(title: "\(shown.label) \(shown.image.width)×\(shown.image.height)\(mix)").draw(on: &area) { inner in
                    ImageView(image: shown.image, imageProtocol: context.imageProtocol, paletteSize: context.paletteSize)
                        .draw(on: &inner)
                }
            }
        }
    }

    private func drawSettings(on surface: inout Surface) {
        var row = 0
        func line(_ label: String, _ value: String, _ role: ColorRole = .text) {
            guard row < surface.height else { return }
            let x = surface.write(padded(label, toWidth: 9), x: 0, y: row, role: .muted)
            surface.write(truncated(value, toWidth: max(0, surface.width - x)), x: x, y: row, role: role)
            row += 1
        }
        line("prompt", prompt)
        line("negative", negativePrompt.isEmpty ? "(none)" : negativePrompt, negativePrompt.isEmpty ? .muted : .text)
        line("seed", "\(seed)")
        line("steps", "\(steps)")
        line("model", models.loaded.map { ($0.path as NSString).lastPathComponent } ?? "(none)")
        if !rack.entries.isEmpty {
            let mix = rack.mix.isEmpty ? "(all off in the rack)" : rack.mixDescription
            line("membrane", mix + (membranesOn ? " (on)" : " (off)"), membranesOn && !rack.mix.isEmpty ? .success : .muted)
            line("transport", rack.transportName + " (gates per prompt; rack: f)")
        }
        switch state {
        case .waitingForModel: line("status", "waiting for the model", .muted)
        case .ready: line("status", "ready: press g", .success)
        case .running(let step, let total):
            line("status", "step \(step) / \(total)", .warning)
            if row < surface.height, total > 0 {
                surface.within(Rect(x: 0, y: row, width: surface.width, height: 1)) {
                    ProgressBar(fraction: Double(step) / Double(total)).draw(on: &$0)
                }
                row += 1
            }
        case .finished(let seconds): line("status", String(format: "done in %.1f s (w writes PNGs)", seconds), .success)
        case .failed(let message): line("status", message, .error)
        case .cancelled: line("status", "cancelled", .warning)
        }
    }
}
