/// What a screen asks the app to do in answer to a key: the app owns the prompt, the log and the core.
public enum ScreenEffect {
    case prompt(TextPrompt)
    case startJob(any CoreJob, JobSlot)
    case cancelJob(JobSlot)
    case log(LogEntry)
    case hint(String)
    case scrollLog(Int)
    case followLog
    /// The rack changed (a membrane toggled, a weight moved): every screen hears of it through `membranesChanged`.
    case membranesChanged
    /// Bring this screen to the front (a training run started from the config editor shows the monitor).
    case show(any Screen)
}

/// A one-field form shown over the bottom of the screen. `validate` returns the message to show inline (nil
/// when the value is acceptable); `accept` runs with the accepted value.
public struct TextPrompt {
    public var field: FormField
    public let validate: (String) -> String?
    public let accept: (String) -> [ScreenEffect]

    public init(label: String, value: String, validate: @escaping (String) -> String?,
                accept: @escaping (String) -> [ScreenEffect]) {
        field = FormField(label: label, value: value)
        self.validate = validate
        self.accept = accept
    }
}

/// What screens may read from the app while drawing.
public struct ScreenContext {
    public let log: LogBook
    /// How `ImageView`s on this terminal draw (resolved from `--images`), and the colours it has.
    public let imageProtocol: ImageProtocol
    public let paletteSize: Int
}

/// A full-screen page of the workbench. Each has its `KeyScope` with bindings in `KeyMap.standard`, and starts
/// its work through `ScreenEffect.startJob` so it runs in the core.
public protocol Screen: AnyObject {
    var title: String { get }
    /// Bindings of this scope apply while the screen is showing (before the global ones).
    var keyScope: KeyScope { get }
    func perform(_ action: Action) -> [ScreenEffect]
    /// Core events arrive at every screen; each keeps what concerns it. Returns whether it needs a redraw.
    func receive(_ event: CoreEvent) -> Bool
    /// The membrane rack changed; a screen showing something made with the membranes redoes it.
    func membranesChanged() -> [ScreenEffect]
    /// Called for the screen on show after every turn of the loop: work its view needs that is out of date
    /// (say, gates for a prompt edited elsewhere) starts here. Cheap when nothing changed.
    func refresh() -> [ScreenEffect]
    func draw(on surface: inout Surface, context: ScreenContext)
}

extension Screen {
    public func membranesChanged() -> [ScreenEffect] { [] }
    public func refresh() -> [ScreenEffect] { [] }
}
