import Diffusion
import Foundation
import Membrane
import Synchronization

/// Settings the command line gives the workbench.
public struct WorkbenchOptions: Sendable {
    public var modelPath: String?
    public var imageProtocol: ImageProtocol
    public var paletteSize: Int
    /// Facilitated transport's measure the rack starts with (`--transport`).
    public var transport: TransportConfig

    public init(modelPath: String? = nil, imageProtocol: ImageProtocol = .symbols, paletteSize: Int = 256,
                transport: TransportConfig = TransportConfig()) {
        self.modelPath = modelPath
        self.imageProtocol = imageProtocol
        self.paletteSize = paletteSize
        self.transport = transport
    }
}

/// A flag any thread may raise to end the UI loop (signals arrive on other threads).
public final class QuitRequest: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func request() { flag.store(true, ordering: .relaxed) }
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
}

/// The workbench UI: screens, overlays, the log and the key loop. It draws what the core reports and never
/// does long work itself; every key is answered within one poll interval.
public final class WorkbenchApp {
    /// Smallest terminal the layout is drawn in; below it one line says so.
    public static let minimumSize = TerminalSize(columns: 40, rows: 10)
    /// How long a key poll waits before the loop drains the core's messages.
    public static let pollMilliseconds = 40

    public let keyMap: KeyMap
    public let core: WorkbenchCore
    /// The base model, once the core has loaded it.
    public let models: ModelStore
    public private(set) var screens: [any Screen]
    public private(set) var currentScreen = 0
    public private(set) var log = LogBook()
    public private(set) var themes: [Theme]
    public private(set) var themeIndex: Int
    public private(set) var helpVisible = false
    public private(set) var prompt: TextPrompt?
    public private(set) var hint: String?
    public private(set) var isRunning = true
    private var helpScroll = 0
    private var needsRedraw = true
    private let options: WorkbenchOptions
    /// Set from any thread (signal handlers) to end the loop at its next turn.
    public let quitRequest = QuitRequest()

    public init(options: WorkbenchOptions, themes: [Theme], initialTheme: Int = 0, core: WorkbenchCore = WorkbenchCore(),
                models: ModelStore = ModelStore(), keyMap: KeyMap = .standard, screens: [any Screen]? = nil) {
        self.options = options
        self.themes = themes.isEmpty ? [.dark] : themes
        themeIndex = min(max(0, initialTheme), self.themes.count - 1)
        self.core = core
        self.keyMap = keyMap
        self.models = models
        let rack = MembraneRack(transport: options.transport)
        let generate = GenerateScreen(models: models, rack: rack)
        let editor = ConfigEditorScreen(document: .blank(modelPath: options.modelPath))
        let monitor = TrainingMonitorScreen(models: models, trainingConfig: { [weak editor] in
            editor.map { ($0.config, $0.document.problem?.description) }
        })
        self.screens = screens ?? [monitor, LogScreen(), generate, editor,
                                   MembraneRackScreen(models: models, rack: rack, prompt: { [weak generate] in generate?.prompt ?? "" }),
                                   ReportScreen()]
    }

    public var theme: Theme { themes[themeIndex] }
    public var screen: any Screen { screens[currentScreen] }

    public func append(_ entry: LogEntry) {
        log.append(entry)
        needsRedraw = true
    }

    /// The training monitor follows `path` (what `--training-log` asks for).
    public func followTrainingLog(_ path: String) {
        guard let monitor = screens.lazy.compactMap({ $0 as? TrainingMonitorScreen }).first else { return }
        apply(monitor.follow(path))
    }

    /// The config editor opens the YAML file at `path` and shows (what `--config` asks for).
    public func openConfig(_ path: String) {
        guard let editor = screens.lazy.compactMap({ $0 as? ConfigEditorScreen }).first else { return }
        apply(editor.open(path))
        show(ConfigEditorScreen.self)
    }

    // MARK: The loop

    /// Runs until quit: poll a key (short timeout), drain the core, redraw when something changed. Returns the
    /// jobs it cancelled on the way out, which may still be finishing.
    @discardableResult
    public func run(on terminal: some TerminalDriver) -> CancelledJobs {
        while isRunning {
            if let key = terminal.readKey(timeoutMilliseconds: WorkbenchApp.pollMilliseconds) { handle(key) }
            if quitRequest.isRequested { isRunning = false }
            drainCore()
            if needsRedraw && isRunning { terminal.present(render(size: terminal.size)) }
        }
        return core.cancelAll()
    }

    /// Applies what the core reported since the last turn.
    public func drainCore() {
        for event in core.events.drain() {
            if case .log(let entry) = event { append(entry) }
            if case .trainingLog(_, .failed(let message)) = event { append(LogEntry(.warning, message)) }
            if case .trainingLog(_, .batch(let batch)) = event {
                for problem in batch.problems.prefix(5) { append(LogEntry(.warning, "training log \(problem)")) }
                if batch.problems.count > 5 {
                    append(LogEntry(.warning, "training log: \(batch.problems.count - 5) more bad lines"))
                }
            }
            for screen in screens where screen.receive(event) { needsRedraw = true }
        }
        apply(screen.refresh())
    }

    // MARK: Keys

    /// The scopes consulted for a key, most specific first.
    var activeScopes: [KeyScope] {
        if prompt != nil { return [.always, .prompt] }
        if helpVisible { return [.always, .help, .global] }  // an overlay: the workbench's keys still work
        return [.always, screen.keyScope, .global]
    }

    public func handle(_ key: Key) {
        needsRedraw = true
        if key == .resize { return }
        let binding = keyMap.binding(for: key, in: activeScopes)
        if var editing = prompt, binding == nil {
            hint = editing.field.edit(with: key) ? nil : "\(key.label) does nothing in a text field"
            prompt = editing
            return
        }
        guard let binding else {
            hint = "\(key.label) is not bound here: ? lists the keys"
            return
        }
        hint = nil
        perform(binding.action)
    }

    func perform(_ action: Action) {
        switch action {
        case .quit: isRunning = false
        case .toggleHelp:
            helpVisible.toggle()
            helpScroll = 0
        case .closeOverlay: helpVisible = false
        case .nextScreen: currentScreen = (currentScreen + 1) % screens.count
        case .previousScreen: currentScreen = (currentScreen + screens.count - 1) % screens.count
        case .showTrainingMonitor: show(TrainingMonitorScreen.self)
        case .showLog: show(LogScreen.self)
        case .showGenerate: show(GenerateScreen.self)
        case .showConfigEditor: show(ConfigEditorScreen.self)
        case .showMembraneRack: show(MembraneRackScreen.self)
        case .showReport: show(ReportScreen.self)
        case .startTraining, .pauseTraining, .resumeTraining, .stopTraining, .addTrainedMembrane:
            // The config editor's training keys act on the monitor, which owns the run.
            if let monitor = screens.lazy.compactMap({ $0 as? TrainingMonitorScreen }).first { apply(monitor.perform(action)) }
        case .nextTheme:
            themeIndex = (themeIndex + 1) % themes.count
            if themes.count == 1 { hint = "only one theme is loaded" }
        case .confirmPrompt: confirmPrompt()
        case .cancelPrompt: prompt = nil
        case .scrollUp where helpVisible: helpScroll = max(0, helpScroll - 1)
        case .scrollDown where helpVisible: helpScroll += 1
        case .pageUp where helpVisible: helpScroll = max(0, helpScroll - 10)
        case .pageDown where helpVisible: helpScroll += 10
        default: apply(screen.perform(action))
        }
    }

    private func show<S: Screen>(_ type: S.Type) {
        if let index = screens.firstIndex(where: { $0 is S }) { currentScreen = index }
    }

    private func confirmPrompt() {
        guard var current = prompt else { return }
        if let message = current.validate(current.field.value) {
            current.field.message = message
            prompt = current
            return
        }
        prompt = nil
        apply(current.accept(current.field.value))
    }

    private func apply(_ effects: [ScreenEffect]) {
        for effect in effects {
            switch effect {
            case .prompt(let newPrompt): prompt = newPrompt
            case .startJob(let job, let slot): core.start(job, in: slot)
            case .cancelJob(let slot): core.cancel(slot)
            case .log(let entry): append(entry)
            case .hint(let text): hint = text
            case .scrollLog(let lines): log.scroll(by: lines)
            case .followLog: log.follow()
            case .membranesChanged: screens.forEach { apply($0.membranesChanged()) }
            case .show(let target): if let index = screens.firstIndex(where: { $0 === target }) { currentScreen = index }
            }
        }
    }

    // MARK: Drawing

    /// The whole screen for a terminal of `size`.
    public func render(size: TerminalSize) -> Frame {
        needsRedraw = false
        let theme = self.theme
        var surface = Surface(buffer: CellBuffer(width: size.columns, height: size.rows,
                                                 fill: Cell(" ", style: theme.style(.text))),
                              rect: Rect(x: 0, y: 0, width: size.columns, height: size.rows), theme: theme)
        guard size.columns >= WorkbenchApp.minimumSize.columns, size.rows >= WorkbenchApp.minimumSize.rows else {
            let need = WorkbenchApp.minimumSize
            surface.write(truncated("terminal too small", toWidth: size.columns), x: 0, y: 0, role: .warning)
            surface.write(truncated("\(size.columns)x\(size.rows), need \(need.columns)x\(need.rows)",
                                    toWidth: size.columns), x: 0, y: 1, role: .muted)
            return Frame(cells: surface.buffer)
        }
        let (header, rest) = surface.local.splitTop(1)
        let (body, status) = rest.splitBottom(1)
        surface.within(header) { drawHeader(on: &$0) }
        surface.within(body) { drawBody(on: &$0) }
        surface.within(status) { bar in
            StatusBar(left: statusText, hint: hint).draw(on: &bar)
        }
        if helpVisible { surface.within(body) { drawHelp(on: &$0) } }
        return Frame(cells: surface.buffer, graphics: surface.graphics)
    }

    private var statusText: String {
        if prompt != nil { return "Enter accept · Esc cancel · Ctrl-U clear" }
        if helpVisible { return "? or Esc close help · ↑↓ PgUp PgDn scroll" }
        return "? help · Tab screens · q quit"
    }

    private func drawHeader(on surface: inout Surface) {
        surface.clear(role: .statusBar)
        var x = surface.write(" spm-workbench ", x: 0, y: 0, style: {
            var style = surface.style(.statusBar)
            style.bold = true
            return style
        }())
        for (index, screen) in screens.enumerated() {
            let label = " \(index + 1) \(screen.title) "
            x = surface.write(label, x: x + 1, y: 0, style: index == currentScreen
                ? surface.style(.selection) : surface.style(.statusBar))
        }
        // The precision is named only when it is not the exact one (`spm-workbench --precision bf16`).
        let model = (options.modelPath.map { ($0 as NSString).lastPathComponent } ?? "none")
            + (ComputeEnvironment.precision == .fp32 ? "" : " · \(ComputeEnvironment.precision.rawValue)")
        // The labelled form when it fits, else shorter ones (the screen tabs come first).
        let fitting = ["model: \(model) · theme: \(theme.name) ", "\(model) · theme: \(theme.name) ", "\(model) · \(theme.name) ",
                       "\(theme.name) "]
            .first { x + 2 + terminalWidth(of: $0) <= surface.width }
        if let right = fitting {
            surface.write(right, x: surface.width - terminalWidth(of: right), y: 0, role: .statusBar)
        }
    }

    private func drawBody(on surface: inout Surface) {
        let context = ScreenContext(log: log, imageProtocol: options.imageProtocol, paletteSize: options.paletteSize)
        var screenArea = surface.local
        // The monitor keeps the latest messages in view when there is room; the log screen shows them all.
        if !(screen is LogScreen), surface.height >= 18 {
            let (top, bottom) = surface.local.splitBottom(min(8, surface.height / 3))
            screenArea = top
            surface.within(bottom) { area in
                Panel(title: "Log").draw(on: &area) { LogView(book: log).draw(on: &$0) }
            }
        }
        if prompt != nil { screenArea = screenArea.splitBottom(promptHeight).0 }
        surface.within(screenArea) { screen.draw(on: &$0, context: context) }
        if let prompt {
            let area = surface.local.splitBottom(promptHeight).1
            surface.within(area) { box in
                Panel(title: prompt.field.label, focused: true).draw(on: &box) { inner in
                    FormView(fields: [prompt.field], focused: 0).draw(on: &inner)
                }
            }
        }
    }

    private var promptHeight: Int { 2 + (prompt.map { FormView(fields: [$0.field], focused: 0).height } ?? 1) }

    private func drawHelp(on surface: inout Surface) {
        var lines: [(String, String?)] = []
        for section in keyMap.helpSections {
            if !lines.isEmpty { lines.append(("", nil)) }
            lines.append((section.title, nil))
            for entry in section.entries { lines.append((entry.keys, entry.help)) }
        }
        let keyWidth = lines.filter { $0.1 != nil }.map { terminalWidth(of: $0.0) }.max() ?? 0
        let contentWidth = lines.map { line in
            line.1.map { 1 + keyWidth + 2 + terminalWidth(of: $0) } ?? terminalWidth(of: line.0)
        }.max() ?? 0
        let box = surface.local.centered(width: contentWidth + 3, height: lines.count + 2)
        let visible = max(1, box.height - 2)
        helpScroll = min(helpScroll, max(0, lines.count - visible))
        let first = helpScroll
        surface.within(box) { area in
            Panel(title: "Keys", focused: true).draw(on: &area) { inner in
                for (row, line) in lines.dropFirst(first).prefix(visible).enumerated() {
                    if let help = line.1 {
                        let x = inner.write(padded(line.0, toWidth: keyWidth), x: 1, y: row, role: .accent)
                        inner.write(help, x: x + 2, y: row, role: .text)
                    } else {
                        inner.write(line.0, x: 0, y: row, role: .title)
                    }
                }
            }
        }
    }
}
