import Foundation
import Membrane
import Testing

/// Drives the real `spm-workbench` binary inside a detached tmux session and reads the screen with
/// `capture-pane`. Each test has its own tmux server (`-L`), so tests never see each other's sessions.
final class TmuxSession {
    static let tmuxPath = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    /// The binary `swift test` builds next to the test bundle (debug or release), else the debug build.
    static let binaryPath: String = {
        let besideBundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("spm-workbench").path
        if FileManager.default.isExecutableFile(atPath: besideBundle) { return besideBundle }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/spm-workbench").path
    }()
    static var available: Bool { tmuxPath != nil && FileManager.default.isExecutableFile(atPath: binaryPath) }

    let socket = "spmwb-\(UUID().uuidString.prefix(8))"
    static let prompt = "wb$"

    init(columns: Int = 120, rows: Int = 40) throws {
        try tmux("new-session", "-d", "-x", "\(columns)", "-y", "\(rows)", "-s", "main",
                 "env PS1='\(TmuxSession.prompt) ' LANG=C.UTF-8 LC_ALL=C.UTF-8 sh")
        try #require(waitFor { $0.contains(TmuxSession.prompt) } != nil, "the shell did not start")
    }

    deinit { _ = try? tmux("kill-server") }

    /// Runs tmux with posix_spawn and waitpid: its output goes to a file, since the server it forks must not
    /// hold a pipe of ours open.
    @discardableResult
    func tmux(_ arguments: String...) throws -> String {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-\(UUID().uuidString)").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // The runner's threads block most signals; a tmux server inheriting that mask never hears SIGCHLD or
        // kill-server's wake-ups, so spawn with an empty mask and default handlers.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = [TmuxSession.tmuxPath!, "-u", "-L", socket, "-f", "/dev/null"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LANG"] = "C.UTF-8"
        environment["LC_ALL"] = "C.UTF-8"
        environment.removeValue(forKey: "TMUX")
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnvp = envp.map { strdup($0) } + [nil]
        defer { (cArgv + cEnvp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgv, &cEnvp)
        guard spawned == 0 else { throw TmuxError.spawnFailed(spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    enum TmuxError: Error { case spawnFailed(Int32) }

    /// Types a command line into the shell and presses Enter.
    func type(_ line: String) throws {
        try tmux("send-keys", "-t", "main", "-l", line)
        try tmux("send-keys", "-t", "main", "Enter")
    }

    /// Sends tmux key names (`q`, `C-c`, `Enter`, `Escape`…).
    func keys(_ names: String...) throws {
        for name in names { try tmux("send-keys", "-t", "main", name) }
    }

    func screen() -> String { (try? tmux("capture-pane", "-p", "-t", "main")) ?? "" }

    /// The screen with its colours as escape sequences.
    func coloredScreen() -> String { (try? tmux("capture-pane", "-e", "-p", "-t", "main")) ?? "" }

    /// The screen once `condition` holds, or nil after `timeout` seconds.
    func waitFor(timeout: Double = 10, _ condition: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            let text = screen()
            if condition(text) { return text }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return nil
    }

    /// Starts the workbench from the shell and waits for its first frame.
    func startWorkbench(_ arguments: String = "--images symbols") throws -> String {
        try type("\(TmuxSession.binaryPath) \(arguments)")
        // The header is drawn first and the status bar last: with both on screen the first frame is complete.
        return try #require(waitFor { $0.contains("1 Training monitor") && $0.contains("q quit") }, "the workbench did not open")
    }

    /// The shell is back: the workbench's screen is gone, the prompt is the last line, and tty modes are
    /// restored (echo and canonical input on again).
    func expectShellRestored() throws {
        let back = waitFor { text in
            !text.contains("Training monitor")
                && text.split(separator: "\n").last.map { $0.hasPrefix(TmuxSession.prompt) } == true
        }
        #expect(back != nil, "the shell did not come back: \(screen())")
        var command = ""
        let deadline = Date().addingTimeInterval(5)
        repeat {  // tmux reads the pane's foreground process on demand; give the exit a moment to land
            command = try tmux("display-message", "-p", "-t", "main", "#{pane_current_command}")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if command == "sh" { break }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        #expect(command == "sh", "the workbench process is still in the foreground")
        let marker = "modes-\(UUID().uuidString.prefix(6))"
        try type("echo \(marker)-$(stty -a | tr ' ;' '\\n\\n' | grep -c -x -e echo -e icanon)")
        #expect(waitFor { $0.split(separator: "\n").contains { $0 == "\(marker)-2" } } != nil,
                "tty modes not restored (echo and icanon): \(screen())")
    }
}

@Suite("Workbench in tmux", .serialized,
       .enabled(if: TmuxSession.available, "needs tmux and a built spm-workbench binary (swift build)"))
struct TmuxTests {
    @Test("opens on the shipped testbed model, ? shows every key, unknown keys hint, q quits and restores the terminal")
    func openHelpQuit() throws {
        let session = try TmuxSession()
        let first = try session.startWorkbench()
        #expect(first.contains("No training log open: press o"))
        #expect(first.contains("testbed · theme: dark"), "no --model: the shipped models/testbed is the default")
        #expect(first.contains("? help · Tab screens · q quit"))
        try session.keys("?")
        // Wait for the whole overlay: curses may still be writing it when its title first shows.
        let texts = ["─ Keys ─", "quit (restores the terminal)", "open a training log", "next theme", "pause after the current step"]
        let help = session.waitFor { screen in texts.allSatisfy(screen.contains) }
        #expect(help != nil, "help overlay incomplete: \(session.screen())")
        // Every screen's keys are in it, a page at a time.
        let later = ["generate with the loaded model", "Config editor", "train with this config", "Membrane rack",
                     "write the mix that is on as a merged membrane", "facilitated transport: embeddings → reference → tokens → off"]
        var seen = ""
        for _ in 0..<6 {
            try session.keys("NPage")
            Thread.sleep(forTimeInterval: 0.3)
            seen += session.screen()
        }
        #expect(later.allSatisfy(seen.contains), "help lacks the later screens: \(seen)")
        try session.keys("?")
        #expect(session.waitFor { !$0.contains("─ Keys ─") } != nil, "help did not close")
        try session.keys("z")
        #expect(session.waitFor { $0.contains("z is not bound here: ? lists the keys") } != nil)
        try session.keys("2")
        #expect(session.waitFor { $0.contains("Log (") } != nil, "the log screen did not open")
        #expect(session.waitFor { $0.contains("models/testbed loaded in") } != nil, "the testbed model did not load: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("6 shows the newest report under out/reports; r reads a newer one")
    func newestReport() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-reports-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let reports = folder.appendingPathComponent("out/reports")
        let probes: [TestbedConcept] = [.colour(.red), .colour(.blue)]
        let matrix = TestbedMatrixReport(columns: [
            .init(setting: "erase-red", erased: [.colour(.red)], probes: probes, baseShows: [true, true], membraneShows: [false, true]),
        ])
        try EvaluationReportWriter.write(try matrix.page(settings: ["membranes: erase-red.safetensors"], lossCurve: nil), images: [],
                                         to: reports.appendingPathComponent("older"))
        let session = try TmuxSession()
        try session.type("cd \(folder.path)")
        _ = try session.startWorkbench()
        try session.keys("6")
        let shown = session.waitFor { $0.contains("Erasure matrix on the testbed") && $0.contains("✗ 0.0%") }
        #expect(shown != nil, "the report is not shown: \(session.screen())")
        #expect(shown?.contains("erase-red: erasure") == true && shown?.contains("100.0%") == true)
        #expect(shown?.contains("out/reports/older/index.html") == true)

        let attack = TestbedAttackReport(target: .colour(.red), floor: 0.5, generations: [])
        Thread.sleep(forTimeInterval: 1.1)  // a later modification time than the first report's
        try EvaluationReportWriter.write(try attack.page(generations: [], settings: [], lossCurve: nil).report, images: [],
                                         to: reports.appendingPathComponent("newer"))
        try session.keys("r")
        #expect(session.waitFor { $0.contains("Attacks on the erasure of \"red\"") && $0.contains("attack success, gated") } != nil,
                "r did not read the newer report: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("3 opens generate; g generates with the loaded model and draws the image; w writes the PNG")
    func generateAndShow() throws {
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../DiffusionTests/Golden/pipelines/sd1").standardizedFileURL.path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let session = try TmuxSession()
        try session.type("cd \(output.deletingLastPathComponent().path) && mkdir -p \(output.lastPathComponent) && cd \(output.lastPathComponent)")
        _ = try session.startWorkbench("--images symbols --model \(model)")
        try session.keys("3")
        #expect(session.waitFor { $0.contains("ready: press g") } != nil, "the model never loaded: \(session.screen())")
        try session.keys("g")
        let shown = session.waitFor { $0.contains("original 32×32") && $0.contains("done in") }
        #expect(shown != nil, "no image: \(session.screen())")
        // Symbols mode draws the picture with block characters.
        #expect(shown.map { $0.unicodeScalars.contains { (0x2580...0x259F).contains($0.value) } } == true)
        try session.keys("w")
        #expect(session.waitFor { $0.contains("wrote ") && $0.contains("/out/generate-seed0.png") } != nil, "no PNG written")
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("out/generate-seed0.png").path))
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("--precision bf16 is named in the header, and generation runs at it")
    func bfloat16Generation() throws {
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../DiffusionTests/Golden/pipelines/sd1").standardizedFileURL.path
        let session = try TmuxSession()
        let first = try session.startWorkbench("--images symbols --precision bf16 --model \(model)")
        #expect(first.contains("sd1 · bf16 · theme: dark"), "\(first)")
        try session.keys("3")
        #expect(session.waitFor { $0.contains("ready: press g") } != nil, "the model never loaded: \(session.screen())")
        try session.keys("g")
        #expect(session.waitFor { $0.contains("original 32×32") && $0.contains("done in") } != nil,
                "no image: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("a JSON-lines log appended while watching moves the chart and the step counter")
    func liveTrainingLog() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-run-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        func records(_ steps: ClosedRange<Int>) -> Data {
            Data(steps.map { step in
                let erase = 1.0 / Double(step), anchor = 0.05 + 0.01 * sin(Double(step))
                return "{\"step\":\(step),\"loss\":\(erase + anchor),\"erase_loss\":\(erase),\"anchor_loss\":\(anchor),"
                    + "\"lr\":1e-4}\n"
            }.joined().utf8)
        }
        try records(1...3).write(to: url)
        let session = try TmuxSession()
        _ = try session.startWorkbench()
        try session.keys("o")
        try session.type(url.path)
        // Wait for whole frames: a capture can land while curses is still writing one.
        let before = try #require(session.waitFor { $0.contains("step    3") && $0.contains("━━ erase") && $0.contains("━━ anchor") },
                                  "step 3 and the legend never showed: \(session.screen())")
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: records(4...23))
        try handle.close()
        let after = try #require(session.waitFor { $0.contains("step    23") && $0.contains("records 23") && $0.contains("23│") },
                                 "the step counter did not move: \(session.screen())")
        func chart(_ screen: String) -> String {
            String(screen.unicodeScalars.filter { (0x2801...0x28FF).contains($0.value) })
        }
        #expect(!chart(before).isEmpty && !chart(after).isEmpty)
        #expect(chart(before) != chart(after), "the chart did not change")
        #expect(after.contains("records 23"))
        #expect(after.contains("└1") && after.contains("23│"))  // x axis now runs 1…23
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("resizing: too small shows one line, growing back redraws the layout; Ctrl-C quits")
    func resize() throws {
        let session = try TmuxSession()
        _ = try session.startWorkbench()
        try session.tmux("resize-window", "-t", "main", "-x", "30", "-y", "8")
        #expect(session.waitFor { $0.contains("terminal too small") && $0.contains("30x8, need 40x10") } != nil,
                "no 'too small' line: \(session.screen())")
        try session.tmux("resize-window", "-t", "main", "-x", "90", "-y", "28")
        let grown = session.waitFor { screen in
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
            return !screen.contains("too small") && lines.count >= 28 && lines[27].contains("q quit")
        }
        #expect(grown != nil, "layout not redrawn at 90x28: \(session.screen())")
        #expect(grown?.split(separator: "\n").first?.contains("1 Training monitor") == true)
        try expectCleanFrame(session, columns: 90, rows: 28)
        // Another screen, shrunk: every row is redrawn at the new width, with nothing left from the old frame.
        try session.keys("4")
        _ = session.waitFor { $0.contains("Training config") }
        try session.tmux("resize-window", "-t", "main", "-x", "64", "-y", "20")
        let shrunk = session.waitFor { screen in
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
            return lines.count >= 20 && lines[19].contains("q quit") && screen.contains("Training config")
        }
        #expect(shrunk != nil, "layout not redrawn at 64x20: \(session.screen())")
        try expectCleanFrame(session, columns: 64, rows: 20)
        try session.keys("C-c")
        try session.expectShellRestored()
    }

    /// Rows 1…rows−2 are panels: each exactly `columns` cells wide, closed by a border in the last column.
    func expectCleanFrame(_ session: TmuxSession, columns: Int, rows: Int) throws {
        let lines = session.screen().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try #require(lines.count >= rows)
        for (row, line) in lines[1..<(rows - 1)].enumerated() {
            #expect(line.count == columns && ["│", "┐", "┘"].contains(line.last.map(String.init) ?? ""),
                    "row \(row + 1) at \(columns)x\(rows): '\(line)'")
        }
        #expect(lines.dropFirst(rows).allSatisfy { $0.isEmpty })
    }

    @Test("each of the three themes chosen with --theme colours the screen with its own status bar")
    func threeThemes() throws {
        let session = try TmuxSession()
        // Each theme's status-bar background, as tmux reports it (256-colour index or bright ANSI colour).
        for (name, background) in [("dark", "48;5;236"), ("light", "48;5;252"), ("high-contrast", "107")] {
            let first = try session.startWorkbench("--images symbols --theme \(name)")
            #expect(first.split(separator: "\n").first?.hasSuffix(" \(name)") == true)
            let colored = session.coloredScreen()
            #expect(colored.contains(";\(background)m") || colored.contains("[\(background)m")
                    || colored.contains("[\(background);"), "\(name): no status background \(background)")
            try session.keys("q")
            try session.expectShellRestored()
        }
    }

    @Test("--theme picks a theme file (its colours reach the screen); t cycles; an unknown name falls back")
    func themes() throws {
        let session = try TmuxSession()
        let light = try session.startWorkbench("--images symbols --theme light")
        #expect(light.contains("theme: light"))
        #expect(session.coloredScreen().contains("48;5;255"), "the light background is not on screen")
        try session.keys("t")
        #expect(session.waitFor { !$0.contains("theme: light") && $0.contains("theme: ") } != nil)
        try session.keys("q")
        try session.expectShellRestored()
        let fallback = try session.startWorkbench("--images symbols --theme nosuch")
        #expect(fallback.contains("theme: dark"))
        #expect(fallback.contains("theme nosuch not found; using dark"))
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("config editor: a field edited to a bad value shows the validator's message inline; saved YAML reloads as edited")
    func configEditor() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let original = ConfigEditorTests.configs.appendingPathComponent("testbed/erase-red.yaml")
        try FileManager.default.copyItem(at: original, to: folder.appendingPathComponent("erase-red.yaml"))
        let session = try TmuxSession()
        try session.type("cd \(folder.path)")
        _ = try session.startWorkbench("--images symbols --config erase-red.yaml")
        #expect(session.waitFor { $0.contains("Training config · erase-red.yaml") && $0.contains("✓ valid") } != nil,
                "the config did not open: \(session.screen())")
        // model (3 fields), one concept (11), network (3): train.iterations is the 18th field.
        for _ in 0..<17 { try session.keys("j") }
        try session.keys("Enter")
        #expect(session.waitFor { $0.contains("─ train.iterations ─") } != nil, "no prompt: \(session.screen())")
        try session.keys("C-u")
        try session.tmux("send-keys", "-t", "main", "-l", "abc")
        try session.keys("Enter")
        #expect(session.waitFor { $0.contains("✗ expected an integer") } != nil, "no type message: \(session.screen())")
        try session.keys("C-u")
        try session.tmux("send-keys", "-t", "main", "-l", "20")
        try session.keys("Enter")
        // warmup_steps (30) must now be below the iterations: the message shows under that field.
        let invalid = session.waitFor { screen in
            screen.contains("✗ train.warmup_steps: must be less than iterations (20), found 30")
                && screen.contains("✗ must be less than iterations (20), found 30") && screen.contains("(modified)")
        }
        #expect(invalid != nil, "no inline validation: \(session.screen())")
        try session.keys("w")
        #expect(session.waitFor { $0.contains("not saved: train.warmup_steps") } != nil)
        try session.keys("j", "j", "j", "j", "j", "Enter", "C-u")  // train.warmup_steps, emptied: the default
        try session.keys("Enter")
        #expect(session.waitFor { $0.contains("✓ valid") } != nil, "still invalid: \(session.screen())")
        try session.keys("w", "C-u")
        try session.tmux("send-keys", "-t", "main", "-l", "edited.yaml")
        try session.keys("Enter")
        #expect(session.waitFor { $0.contains("wrote training config \(folder.path)/edited.yaml") } != nil,
                "not saved: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
        var expected = try TrainingConfig.load(from: original)
        expected.train.iterations = 20
        expected.train.warmupSteps = nil
        #expect(try TrainingConfig.load(from: folder.appendingPathComponent("edited.yaml")) == expected)
    }

    @Test("membrane rack: toggling the membrane and moving its weight re-render the preview")
    func membraneRack() throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../DiffusionTests/Golden/pipelines").standardizedFileURL.path
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --model \(golden)/sd1 --membrane \(golden)/sd1-membrane.safetensors")
        try session.keys("3")
        #expect(session.waitFor { $0.contains("ready: press g") } != nil, "the model never loaded: \(session.screen())")
        try session.keys("g")
        /// The image panel's rows with their colours: what follows the third border on a row.
        func image(_ title: String) -> [String]? {
            guard session.waitFor(timeout: 60, { $0.contains(title) && $0.contains("done in") }) != nil else { return nil }
            return session.coloredScreen().split(separator: "\n").compactMap { line in
                let bars = line.indices.filter { line[$0] == "│" }
                return bars.count >= 3 ? String(line[line.index(after: bars[2])...]) : nil
            }
        }
        let on = try #require(image("membranes 32×32 · sd1-membrane:1.00"), "no image: \(session.screen())")
        try session.keys("5")
        #expect(session.waitFor { $0.contains("[x] sd1-membrane") && $0.contains("1.00") } != nil, "no rack: \(session.screen())")
        try session.keys("Space")
        #expect(session.waitFor { $0.contains("[ ] sd1-membrane") && $0.contains("mix: (all off)") } != nil)
        try session.keys("3")
        let off = try #require(image("original 32×32"), "not re-rendered: \(session.screen())")
        #expect(off != on, "switching the membrane off did not change the preview")
        try session.keys("5", "Space", "-")
        #expect(session.waitFor { $0.contains("[x] sd1-membrane") && $0.contains("0.95") && $0.contains("mix: sd1-membrane:0.95") } != nil,
                "weight not shown: \(session.screen())")
        try session.keys("3")
        let lighter = try #require(image("membranes 32×32 · sd1-membrane:0.95"), "not re-rendered: \(session.screen())")
        #expect(lighter != off)
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("--training-log follows a log that a trainer creates later, as it grows")
    func trainingLogFlag() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-train-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        let session = try TmuxSession()
        _ = try session.startWorkbench("--images symbols --training-log \(url.path)")
        #expect(session.waitFor { $0.contains("waiting for file") } != nil, "\(session.screen())")
        let lines = (1...12).map { step in
            "{\"step\":\(step),\"loss\":\(1.0 / Double(step)),\"erase_loss\":\(0.9 / Double(step)),\"anchor_loss\":0.1,"
                + "\"total_steps\":40,\"elapsed_s\":\(Double(step) * 0.5)}\n"
        }
        try Data(lines.joined().utf8).write(to: url)
        let shown = session.waitFor { $0.contains("step    12 / 40") && $0.contains("following") && $0.contains("it/s    2.00") }
        #expect(shown != nil, "the log was not followed: \(session.screen())")
        try session.keys("q")
        try session.expectShellRestored()
    }

    @Test("SIGTERM from outside ends the workbench and restores the terminal")
    func terminateSignal() throws {
        let session = try TmuxSession()
        _ = try session.startWorkbench()
        let shell = try session.tmux("display-message", "-p", "-t", "main", "#{pane_pid}")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        let child = try #require(children.split(separator: " ").first.flatMap { Int32($0) }, "no workbench process")
        #expect(kill(child, SIGTERM) == 0)
        try session.expectShellRestored()
    }
}
