import CNcursesw
import Foundation
import Membrane

/// Starts the workbench on the real terminal and restores the terminal on every way out: `q`, Ctrl-C (a key
/// in raw mode), SIGINT/SIGTERM/SIGHUP from outside, and process exit (an `atexit` hook in `Terminal`).
public enum WorkbenchLauncher {
    public struct Settings: Sendable {
        public var modelPath: String?
        /// Membranes attached to the model once it is loaded.
        public var membranes: [MembraneChoice]
        /// A training log (JSON lines) the monitor follows from the start, e.g. the one a running
        /// `spm-workbench train` writes; it may not exist yet.
        public var trainingLog: String?
        /// A training config the config editor opens.
        public var configPath: String?
        /// Facilitated transport's measure the rack starts with (`--transport`).
        public var transport: TransportConfig
        public var themeName: String
        public var images: ImageModeChoice
        /// Where `themes/*.yaml` are looked for, first match wins.
        public var themeDirectories: [URL]

        public init(modelPath: String?, membranes: [MembraneChoice] = [], trainingLog: String? = nil,
                    configPath: String? = nil, transport: TransportConfig = TransportConfig(), themeName: String,
                    images: ImageModeChoice, themeDirectories: [URL]) {
            self.transport = transport
            self.modelPath = modelPath
            self.membranes = membranes
            self.trainingLog = trainingLog
            self.configPath = configPath
            self.themeName = themeName
            self.images = images
            self.themeDirectories = themeDirectories
        }
    }

    public static func run(_ settings: Settings) throws(TerminalError) {
        let environment = ProcessInfo.processInfo.environment
        setlocale(LC_ALL, "")
        let utf8 = String(cString: nl_langinfo(nl_item(CODESET))) == "UTF-8"
        let imageProtocol = ImageCapability.resolve(settings.images, environment: environment,
                                                    deviceAttributes: { TerminalQuery.deviceAttributes() },
                                                    utf8: utf8)
        let library = ThemeLibrary.load(directories: settings.themeDirectories)
        let terminal = Terminal()
        try terminal.open()
        defer { terminal.close() }
        let app = WorkbenchApp(options: WorkbenchOptions(modelPath: settings.modelPath, imageProtocol: imageProtocol,
                                                         paletteSize: terminal.colorCount, transport: settings.transport),
                               themes: library.themes, initialTheme: library.index(of: settings.themeName) ?? 0)
        for problem in library.problems { app.append(LogEntry(.warning, problem)) }
        if library.index(of: settings.themeName) == nil {
            app.append(LogEntry(.warning, "theme \(settings.themeName) not found; using \(app.theme.name)"))
        }
        app.append(LogEntry(.info, "images: \(imageProtocol.rawValue) (\(settings.images.rawValue))"))
        if let model = settings.modelPath {
            app.append(LogEntry(.info, "loading model \(model) …"))
            app.core.start(LoadModelJob(path: model, membranes: settings.membranes, store: app.models), in: .model)
        } else {
            app.append(LogEntry(.info, "no model selected and no shipped testbed model found (models/testbed): start with --model PATH"))
        }
        if let configPath = settings.configPath { app.openConfig(configPath) }
        if let trainingLog = settings.trainingLog { app.followTrainingLog(trainingLog) }
        let quit = app.quitRequest
        // A queue of their own: a serial queue gets a thread even when the engine's parallel loops keep every
        // worker of the shared global queue busy, where a signal's handler could wait for as long as they run.
        let signalQueue = DispatchQueue(label: "spm-workbench.signals")
        let signalSources = [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
            source.setEventHandler { quit.request() }
            source.resume()
            return source
        }
        let cancelled = app.run(on: terminal)
        signalSources.forEach { $0.cancel() }
        terminal.close()
        // Background work ends before the process does: a training run stops at a checkpoint, and no engine thread
        // (they run at nice 10) is left inside OpenBLAS while exit() runs its destructors — with one still training
        // there, the process never left after q (TmuxTests' quit-while-training test, before this wait). Ctrl-C
        // during the wait leaves at once.
        for number in [SIGINT, SIGTERM, SIGHUP] { signal(number, SIG_DFL) }
        if !cancelled.waitForEnd(upTo: .milliseconds(500)) {
            FileHandle.standardError.write(Data("spm-workbench: stopping background work (a training run saves its checkpoint; Ctrl-C leaves without it) …\n".utf8))
            if !cancelled.waitForEnd(upTo: .seconds(60)) {
                FileHandle.standardError.write(Data("spm-workbench: background work did not stop within a minute; leaving without it\n".utf8))
                fflush(nil)
                _exit(0)
            }
        }
    }
}

/// Questions asked of the terminal before curses takes it over.
public enum TerminalQuery {
    /// Sends a Primary Device Attributes query (`ESC [ c`) and parses the reply; nil when stdin/stdout is not a
    /// terminal or nothing answers within `timeoutMilliseconds`. Input pending afterwards is discarded so a late
    /// reply cannot reach curses as keys.
    public static func deviceAttributes(timeoutMilliseconds: Int32 = 200) -> [Int]? {
        guard isatty(0) != 0, isatty(1) != 0 else { return nil }
        var original = termios()
        guard tcgetattr(0, &original) == 0 else { return nil }
        var raw = original
        cfmakeraw(&raw)
        tcsetattr(0, TCSANOW, &raw)
        defer {
            tcflush(0, TCIFLUSH)
            tcsetattr(0, TCSANOW, &original)
        }
        let query: [UInt8] = [0x1B, UInt8(ascii: "["), UInt8(ascii: "c")]
        guard write(1, query, query.count) == query.count else { return nil }
        var reply: [UInt8] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while Date() < deadline {
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let waitMilliseconds = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&descriptor, 1, waitMilliseconds) > 0 else { break }
            var byte: UInt8 = 0
            guard read(0, &byte, 1) == 1 else { break }
            reply.append(byte)
            if byte == UInt8(ascii: "c"), reply.contains(UInt8(ascii: "?")) { break }
        }
        return ImageCapability.parseDeviceAttributes(String(decoding: reply, as: UTF8.self))
    }
}
