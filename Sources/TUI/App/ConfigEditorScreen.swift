import Foundation
import Membrane

/// A form over a training config: every key of the YAML file as one row, edited in the prompt, checked with the
/// config's own validation (the message shows under the field it names), loaded from and saved to YAML files.
public final class ConfigEditorScreen: Screen {
    public let title = "Config"
    public let keyScope = KeyScope.configEditor
    public private(set) var document: ConfigDocument
    /// The selected field (an index into `document.fields`).
    public private(set) var selected = 0
    private var top = 0
    private var visibleRows = 10
    private let workingDirectory: String

    public init(document: ConfigDocument = .blank(modelPath: nil),
                workingDirectory: String = FileManager.default.currentDirectoryPath) {
        self.document = document
        self.workingDirectory = workingDirectory
    }

    /// The config as the form holds it now: what a training run started from this screen would use.
    public var config: TrainingConfig { document.config }

    public func perform(_ action: Action) -> [ScreenEffect] {
        let fields = document.fields
        switch action {
        case .scrollUp: move(by: -1)
        case .scrollDown: move(by: 1)
        case .pageUp: move(by: -max(1, visibleRows - 1))
        case .pageDown: move(by: max(1, visibleRows - 1))
        case .editField:
            let field = fields[selected]
            let index = selected
            let label = field.name + (field.isOptional ? " (empty: default)" : "")
                + (field.choices.map { " — " + $0.joined(separator: " | ") } ?? "")
            return [.prompt(TextPrompt(label: label, value: field.text(in: document.config),
                                       validate: { [weak self] text in self?.document.check(text, field: index) },
                                       accept: { [weak self] text in self?.set(text, field: index) ?? [] }))]
        case .nextChoice, .previousChoice:
            let field = fields[selected]
            guard let text = field.cycled(in: document.config, by: action == .nextChoice ? 1 : -1) else {
                return [.hint("\(field.name) is not a choice: Enter edits it")]
            }
            return set(text, field: selected)
        case .addConcept:
            document.addConcept()
            let index = document.config.concepts.count - 1
            selected = document.fields.firstIndex { $0.conceptIndex == index } ?? selected
            return [.log(LogEntry(.info, "added concepts[\(index)]: enter its target"))]
        case .removeConcept:
            guard let index = fields[selected].conceptIndex else {
                return [.hint("select a field of the concept entry to remove")]
            }
            document.removeConcept(at: index)
            selected = min(selected, document.fields.count - 1)
            return [.log(LogEntry(.info, "removed concepts[\(index)]"))]
        case .loadConfig:
            return [.prompt(TextPrompt(label: "Load training config (YAML)", value: document.path ?? "configs/",
                                       validate: { [weak self] text in self?.loadProblem(text) },
                                       accept: { [weak self] text in self?.open(text) ?? [] }))]
        case .saveConfig:
            if let problem = document.problem { return [.hint("not saved: \(problem)")] }
            return [.prompt(TextPrompt(label: "Save training config as", value: document.path ?? "configs/new.yaml",
                                       validate: { [weak self] text in self?.saveProblem(text) },
                                       accept: { [weak self] text in self?.save(text) ?? [] }))]
        default:
            break
        }
        return []
    }

    private func move(by delta: Int) {
        selected = min(max(0, selected + delta), document.fields.count - 1)
    }

    private func set(_ text: String, field index: Int) -> [ScreenEffect] {
        do throws(ConfigFieldError) {
            try document.set(text, field: index)
            return []
        } catch {
            return [.hint(error.description)]
        }
    }

    private func loadProblem(_ text: String) -> String? {
        do {
            _ = try ConfigDocument.load(from: resolvePath(text, in: workingDirectory))
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Loads the YAML file at `text` (relative to the working directory) in place of the config being edited.
    func open(_ text: String) -> [ScreenEffect] {
        let path = resolvePath(text, in: workingDirectory)
        do {
            document = try ConfigDocument.load(from: path)
            selected = 0
            top = 0
            return [.log(LogEntry(.info, "loaded training config \(path)"))]
        } catch {
            return [.log(LogEntry(.error, "\(error)"))]
        }
    }

    private func saveProblem(_ text: String) -> String? {
        let path = resolvePath(text, in: workingDirectory)
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { return "enter a file name" }
        guard ["yaml", "yml"].contains((path as NSString).pathExtension.lowercased()) else {
            return "expected a .yaml or .yml file name"
        }
        var isDirectory: ObjCBool = false
        let folder = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "no such folder: \(folder)"
        }
        return nil
    }

    private func save(_ text: String) -> [ScreenEffect] {
        let path = resolvePath(text, in: workingDirectory)
        do {
            try document.save(to: path)
            return [.log(LogEntry(.info, "wrote training config \(path)"))]
        } catch {
            return [.log(LogEntry(.error, "\(path): \(error)"))]
        }
    }

    public func receive(_ event: CoreEvent) -> Bool { false }

    // MARK: Drawing

    public func draw(on surface: inout Surface, context: ScreenContext) {
        var title = "Training config"
        if let path = document.path { title += " · " + (path as NSString).lastPathComponent }
        if document.isModified { title += " (modified)" }
        Panel(title: title).draw(on: &surface) { inner in drawForm(on: &inner) }
    }

    /// One line per field (a section heading before each part), and the validation message under its field.
    private func drawForm(on surface: inout Surface) {
        guard surface.height > 0 else { return }
        let problem = document.problem
        if let problem {
            surface.write(truncated("✗ " + problem.description, toWidth: surface.width), x: 0, y: 0, role: .error)
        } else {
            surface.write(truncated("✓ valid · Enter edits · w saves · l loads", toWidth: surface.width), x: 0, y: 0,
                          role: .success)
        }
        let area = Rect(x: 0, y: 1, width: surface.width, height: surface.height - 1)
        let fields = document.fields
        let nameWidth = min(fields.map { terminalWidth(of: $0.name) }.max() ?? 0, max(8, surface.width / 2))
        var lines: [(field: Int?, message: Bool)] = []
        for (index, field) in fields.enumerated() {
            lines.append((index, false))
            if let problem, field.owns(problem.path) { lines.append((index, true)) }
        }
        visibleRows = max(1, area.height)
        let selectedLine = lines.firstIndex { $0.field == selected && !$0.message } ?? 0
        let lastLine = lines.lastIndex { $0.field == selected } ?? selectedLine
        if selectedLine < top { top = selectedLine }
        if lastLine >= top + visibleRows { top = lastLine - visibleRows + 1 }
        top = max(0, min(top, lines.count - visibleRows))
        surface.within(area) { list in
            for (row, line) in lines.dropFirst(top).prefix(visibleRows).enumerated() {
                guard let index = line.field else { continue }
                let field = fields[index]
                if line.message, let problem {
                    list.write(truncated("✗ " + problem.message, toWidth: max(0, list.width - nameWidth - 3)),
                               x: nameWidth + 3, y: row, role: .error)
                    continue
                }
                let isSelected = index == selected
                if isSelected { list.write(padded("", toWidth: list.width), x: 0, y: row, role: .selection) }
                let value = field.text(in: document.config)
                let shownName = truncated(field.name, toWidth: nameWidth)
                list.write(shownName, x: 0, y: row, role: isSelected ? .selection : .muted)
                let valueX = nameWidth + 3
                let valueWidth = max(0, list.width - valueX)
                let valueRole: ColorRole = isSelected ? .selection
                    : (problem.map { field.owns($0.path) } == true ? .error : .text)
                if value.isEmpty {
                    list.write(truncated(field.isOptional ? "(default)" : "(empty)", toWidth: valueWidth), x: valueX,
                               y: row, role: isSelected ? .selection : .muted)
                } else {
                    let marker = field.choices == nil ? "" : " ◂▸"
                    list.write(truncated(value + marker, toWidth: valueWidth), x: valueX, y: row, role: valueRole)
                }
            }
        }
    }
}

/// `path` as typed (absolute, `~/…` or relative to `folder`), made absolute.
func resolvePath(_ path: String, in folder: String) -> String {
    let expanded = (path.trimmingCharacters(in: .whitespaces) as NSString).expandingTildeInPath
    return expanded.hasPrefix("/") ? expanded : (folder as NSString).appendingPathComponent(expanded)
}
