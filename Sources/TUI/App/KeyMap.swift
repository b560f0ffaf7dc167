/// A key press, decoded from the terminal.
public enum Key: Hashable, Sendable {
    case character(Character)
    /// Ctrl plus a letter, e.g. `.control("c")`.
    case control(Character)
    case enter, escape, backspace, delete, tab, backTab
    case up, down, left, right, pageUp, pageDown, home, end
    case function(Int)
    /// The terminal changed size.
    case resize
    /// A key code the workbench has no name for.
    case unknown(Int32)

    /// How the help overlay and the status bar spell the key.
    public var label: String {
        switch self {
        case .character(" "): return "Space"
        case .character(let c): return String(c)
        case .control(let c): return "Ctrl-\(c.uppercased())"
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .backspace: return "Backspace"
        case .delete: return "Del"
        case .tab: return "Tab"
        case .backTab: return "Shift-Tab"
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        case .function(let n): return "F\(n)"
        case .resize: return "resize"
        case .unknown(let code): return "key \(code)"
        }
    }
}

/// Everything a key can ask the workbench to do.
public enum Action: String, CaseIterable, Sendable {
    case quit, toggleHelp, closeOverlay, nextScreen, previousScreen
    case showTrainingMonitor, showLog, showGenerate, showConfigEditor, showMembraneRack, showReport, nextTheme
    case reloadReport
    case openTrainingLog, closeTrainingLog
    case editPrompt, editNegativePrompt, editSeed, editSteps, startGeneration, compareGeneration, toggleMembranes
    case cancelGeneration, saveImage
    case editField, nextChoice, previousChoice, addConcept, removeConcept, loadConfig, saveConfig
    case toggleMembrane, increaseWeight, decreaseWeight, addMembrane, saveMix
    case increaseMinGate, decreaseMinGate, nextTransport
    case startTraining, pauseTraining, resumeTraining, stopTraining, addTrainedMembrane
    case scrollUp, scrollDown, pageUp, pageDown, scrollToEnd
    case confirmPrompt, cancelPrompt
}

/// Where a binding applies. Scopes are consulted in the order the app lists them, so a screen can give a key
/// its own meaning without the global one leaking through.
public enum KeyScope: String, CaseIterable, Sendable {
    /// Everywhere, even while typing into a field.
    case always
    case global
    case trainingMonitor
    case log
    case generate
    case configEditor
    case membraneRack
    case report
    case help
    case prompt

    /// The heading the help overlay gives the scope.
    public var title: String {
        switch self {
        case .always: return "Anywhere"
        case .global: return "Workbench"
        case .trainingMonitor: return "Training monitor"
        case .log: return "Log"
        case .generate: return "Generate"
        case .configEditor: return "Config editor"
        case .membraneRack: return "Membrane rack"
        case .report: return "Report"
        case .help: return "Help"
        case .prompt: return "Text fields"
        }
    }
}

/// One line of the key table: the help overlay is built from these, so what it shows is what the keys do.
public struct Binding: Equatable, Sendable {
    public let key: Key
    public let action: Action
    public let scope: KeyScope
    public let help: String

    public init(_ key: Key, _ action: Action, _ scope: KeyScope, _ help: String) {
        self.key = key
        self.action = action
        self.scope = scope
        self.help = help
    }
}

/// The one table of key bindings.
public struct KeyMap: Sendable {
    public let bindings: [Binding]

    public init(bindings: [Binding]) { self.bindings = bindings }

    /// The binding for `key` in the first of `scopes` that binds it.
    public func binding(for key: Key, in scopes: [KeyScope]) -> Binding? {
        for scope in scopes {
            if let found = bindings.first(where: { $0.scope == scope && $0.key == key }) { return found }
        }
        return nil
    }

    /// Help lines grouped by scope, in table order: (scope title, [(keys, help)]). Keys sharing an action and
    /// a help text within a scope are listed together ("q, Ctrl-C").
    public var helpSections: [(title: String, entries: [(keys: String, help: String)])] {
        KeyScope.allCases.compactMap { scope in
            var entries: [(keys: String, help: String)] = []
            for binding in bindings where binding.scope == scope {
                if let index = entries.firstIndex(where: { $0.help == binding.help }) {
                    entries[index].keys += ", " + binding.key.label
                } else {
                    entries.append((binding.key.label, binding.help))
                }
            }
            return entries.isEmpty ? nil : (scope.title, entries)
        }
    }

    /// The workbench's keys.
    public static let standard = KeyMap(bindings: [
        Binding(.control("c"), .quit, .always, "quit (restores the terminal)"),
        Binding(.character("q"), .quit, .global, "quit"),
        Binding(.character("?"), .toggleHelp, .global, "show or hide this help"),
        Binding(.tab, .nextScreen, .global, "next screen"),
        Binding(.backTab, .previousScreen, .global, "previous screen"),
        Binding(.character("1"), .showTrainingMonitor, .global, "training monitor"),
        Binding(.character("2"), .showLog, .global, "log"),
        Binding(.character("3"), .showGenerate, .global, "generate"),
        Binding(.character("4"), .showConfigEditor, .global, "training config editor"),
        Binding(.character("5"), .showMembraneRack, .global, "membrane rack"),
        Binding(.character("6"), .showReport, .global, "the newest evaluation report (out/reports)"),
        Binding(.character("t"), .nextTheme, .global, "next theme from themes/"),
        Binding(.character("o"), .openTrainingLog, .trainingMonitor, "open a training log (JSON lines) and follow it"),
        Binding(.character("c"), .closeTrainingLog, .trainingMonitor, "stop following the training log"),
        Binding(.character("r"), .startTraining, .trainingMonitor, "train with the config editor's config (a new run)"),
        Binding(.character("p"), .pauseTraining, .trainingMonitor, "pause after the current step (writes a checkpoint)"),
        Binding(.character("u"), .resumeTraining, .trainingMonitor, "resume from the checkpoint"),
        Binding(.character("x"), .stopTraining, .trainingMonitor, "stop the run (the checkpoint is kept)"),
        Binding(.character("m"), .addTrainedMembrane, .trainingMonitor, "add the membrane the run wrote to the rack"),
        Binding(.character("p"), .editPrompt, .generate, "edit the prompt"),
        Binding(.character("n"), .editNegativePrompt, .generate, "edit the negative prompt"),
        Binding(.character("s"), .editSeed, .generate, "edit the seed"),
        Binding(.character("S"), .editSteps, .generate, "edit the number of steps"),
        Binding(.character("g"), .startGeneration, .generate, "generate with the loaded model"),
        Binding(.character("c"), .compareGeneration, .generate, "generate original and membranes side by side"),
        Binding(.character("m"), .toggleMembranes, .generate, "switch the membranes on or off"),
        Binding(.character("x"), .cancelGeneration, .generate, "cancel the generation"),
        Binding(.character("w"), .saveImage, .generate, "write the image to a PNG"),
        Binding(.up, .scrollUp, .configEditor, "previous field"),
        Binding(.character("k"), .scrollUp, .configEditor, "previous field"),
        Binding(.down, .scrollDown, .configEditor, "next field"),
        Binding(.character("j"), .scrollDown, .configEditor, "next field"),
        Binding(.pageUp, .pageUp, .configEditor, "page up"),
        Binding(.pageDown, .pageDown, .configEditor, "page down"),
        Binding(.enter, .editField, .configEditor, "edit the field (checked as loading the file checks it)"),
        Binding(.character(" "), .nextChoice, .configEditor, "next choice of a choice field"),
        Binding(.right, .nextChoice, .configEditor, "next choice of a choice field"),
        Binding(.left, .previousChoice, .configEditor, "previous choice of a choice field"),
        Binding(.character("a"), .addConcept, .configEditor, "add a concept entry"),
        Binding(.character("d"), .removeConcept, .configEditor, "remove the selected concept entry"),
        Binding(.character("l"), .loadConfig, .configEditor, "load a training config (YAML)"),
        Binding(.character("w"), .saveConfig, .configEditor, "save the config as YAML"),
        Binding(.character("r"), .startTraining, .configEditor, "train with this config (shows the monitor)"),
        Binding(.character("p"), .pauseTraining, .configEditor, "pause the training run"),
        Binding(.character("u"), .resumeTraining, .configEditor, "resume the training run"),
        Binding(.character("x"), .stopTraining, .configEditor, "stop the training run"),
        Binding(.up, .scrollUp, .membraneRack, "previous membrane"),
        Binding(.character("k"), .scrollUp, .membraneRack, "previous membrane"),
        Binding(.down, .scrollDown, .membraneRack, "next membrane"),
        Binding(.character("j"), .scrollDown, .membraneRack, "next membrane"),
        Binding(.character(" "), .toggleMembrane, .membraneRack, "switch the membrane on or off"),
        Binding(.character("+"), .increaseWeight, .membraneRack, "weight +0.05"),
        Binding(.character("="), .increaseWeight, .membraneRack, "weight +0.05"),
        Binding(.character("-"), .decreaseWeight, .membraneRack, "weight −0.05"),
        Binding(.character("]"), .increaseMinGate, .membraneRack, "min_gate +0.05 (the gate never goes below it)"),
        Binding(.character("["), .decreaseMinGate, .membraneRack, "min_gate −0.05"),
        Binding(.character("f"), .nextTransport, .membraneRack, "facilitated transport: embeddings → reference → tokens → off"),
        Binding(.character("a"), .addMembrane, .membraneRack, "add a membrane by path"),
        Binding(.character("s"), .saveMix, .membraneRack, "write the mix that is on as a merged membrane"),
        Binding(.up, .scrollUp, .log, "scroll up"),
        Binding(.character("k"), .scrollUp, .log, "scroll up"),
        Binding(.down, .scrollDown, .log, "scroll down"),
        Binding(.character("j"), .scrollDown, .log, "scroll down"),
        Binding(.pageUp, .pageUp, .log, "page up"),
        Binding(.pageDown, .pageDown, .log, "page down"),
        Binding(.end, .scrollToEnd, .log, "follow new messages"),
        Binding(.character("r"), .reloadReport, .report, "read the newest report again"),
        Binding(.up, .scrollUp, .report, "scroll up"),
        Binding(.character("k"), .scrollUp, .report, "scroll up"),
        Binding(.down, .scrollDown, .report, "scroll down"),
        Binding(.character("j"), .scrollDown, .report, "scroll down"),
        Binding(.pageUp, .pageUp, .report, "page up"),
        Binding(.pageDown, .pageDown, .report, "page down"),
        Binding(.character("?"), .closeOverlay, .help, "close help"),
        Binding(.escape, .closeOverlay, .help, "close help"),
        Binding(.up, .scrollUp, .help, "scroll help"),
        Binding(.down, .scrollDown, .help, "scroll help"),
        Binding(.pageUp, .pageUp, .help, "page help"),
        Binding(.pageDown, .pageDown, .help, "page help"),
        Binding(.enter, .confirmPrompt, .prompt, "accept the value"),
        Binding(.escape, .cancelPrompt, .prompt, "cancel"),
    ])
}
