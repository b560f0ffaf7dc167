import Diffusion
import Foundation

/// Prompt in, image out: generates with the loaded model in the core and shows the result. (Comparing
/// original and membrane side by side joins here when membranes can be loaded.)
public final class GenerateScreen: Screen {
    public let title = "Generate"
    public let keyScope = KeyScope.generate
    public private(set) var prompt = "a cat painting"
    public private(set) var negativePrompt = ""
    public private(set) var seed: UInt64 = 0
    public private(set) var steps = 20
    public private(set) var state = State.waitingForModel
    public private(set) var image: RGBImage?
    private var lastRequest: GenerationRequest?
    private var generation = 0
    private let models: ModelStore
    private let outputFolder: String

    public enum State: Equatable {
        case waitingForModel, ready
        case running(step: Int, of: Int)
        case finished(seconds: Double)
        case failed(String)
        case cancelled
    }

    public init(models: ModelStore, outputFolder: String = "out") {
        self.models = models
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
            return start()
        case .cancelGeneration:
            guard case .running = state else { return [.hint("nothing is generating")] }
            return [.cancelJob(.generation)]
        case .saveImage:
            return save()
        default:
            return []
        }
    }

    private func start() -> [ScreenEffect] {
        guard let loaded = models.loaded else { return [.hint("no model is loaded yet (start with --model PATH)")] }
        let size = loaded.models.nativeImageSize
        let request = GenerationRequest(prompt: prompt, negativePrompt: negativePrompt.isEmpty ? nil : negativePrompt,
                                        steps: steps, width: size, height: size, seed: seed)
        generation += 1
        lastRequest = request
        state = .running(step: 0, of: steps)
        return [.startJob(GenerateJob(request: request, store: models, generation: generation), .generation)]
    }

    private func save() -> [ScreenEffect] {
        guard let image, let request = lastRequest, let loaded = models.loaded else { return [.hint("no image to write yet")] }
        let url = URL(fileURLWithPath: outputFolder).appendingPathComponent("generate-seed\(request.seed).png")
        do {
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
            let modelName = URL(fileURLWithPath: loaded.path).deletingPathExtension().lastPathComponent
            try PNGFile.write(image, text: [(key: "parameters", value: request.infotext(modelName: modelName))], to: url)
            return [.log(LogEntry(.info, "wrote \(url.path)"))]
        } catch {
            return [.log(LogEntry(.error, "\(error)"))]
        }
    }

    public func receive(_ event: CoreEvent) -> Bool {
        switch event {
        case .modelLoaded:
            if state == .waitingForModel { state = .ready }
            return true
        case .generation(let number, let news) where number == generation:
            switch news {
            case .progress(let step, let total): state = .running(step: step, of: total)
            case .finished(let result, let seconds):
                image = result
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
        surface.within(imageArea) { area in
            Panel(title: image.map { "Image \($0.width)×\($0.height)" } ?? "Image").draw(on: &area) { inner in
                if let image {
                    ImageView(image: image, imageProtocol: context.imageProtocol, paletteSize: context.paletteSize).draw(on: &inner)
                } else {
                    inner.write(truncated("Press g to generate.", toWidth: inner.width), x: 0, y: 0, role: .muted)
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
        case .finished(let seconds): line("status", String(format: "done in %.1f s (w writes a PNG)", seconds), .success)
        case .failed(let message): line("status", message, .error)
        case .cancelled: line("status", "cancelled", .warning)
        }
    }
}
