import Foundation
import Testing
@testable import TUI

/// The app driven through the in-memory terminal: layout at many sizes, keys, help, the prompt.
@Suite("Workbench app")
struct AppTests {
    func app() -> WorkbenchApp { WorkbenchApp(options: WorkbenchOptions(), themes: [.dark]) }

    @Test("every screen at every size from 1×1 to 130×45 renders a full, well-formed frame")
    func layoutAtAllSizes() {
        let app = app()
        app.append(LogEntry(.info, "a message wide enough to be cut: " + String(repeating: "漢字", count: 40)))
        for _ in app.screens {
            for columns in stride(from: 1, through: 130, by: 7) {
                for rows in stride(from: 1, through: 45, by: 4) {
                    let frame = app.render(size: TerminalSize(columns: columns, rows: rows))
                    #expect(frame.cells.width == columns && frame.cells.height == rows)
                    for line in frame.cells.lines { #expect(terminalWidth(of: line) == columns) }
                }
            }
            app.handle(.tab)
        }
    }

    @Test("below the minimum size only a 'terminal too small' line is drawn")
    func tooSmall() {
        let lines = app().render(size: TerminalSize(columns: 39, rows: 12)).cells.lines
        #expect(lines[0].hasPrefix("terminal too small"))
        #expect(lines[1].hasPrefix("39x12, need 40x10"))
        #expect(lines[2...].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty })
        let atMinimum = app().render(size: WorkbenchApp.minimumSize).cells.lines
        #expect(atMinimum[0].contains("spm-workbench"))
        #expect(atMinimum[9].contains("q quit"))
    }

    @Test("the standard layout: header, chart and run panels, log panel, status bar")
    func standardLayout() {
        let lines = app().render(size: TerminalSize(columns: 120, rows: 40)).cells.lines
        #expect(lines[0].contains("1 Training monitor") && lines[0].contains("2 Log"))
        // Six tabs leave no room for the "model:" label at 120 columns; the model's name stays.
        #expect(lines[0].contains("6 Report") && lines[0].hasSuffix("none · theme: dark "))
        #expect(lines[1].hasPrefix("┌─ Loss ") && lines[1].contains("┌─ Run "))
        #expect(lines.contains { $0.hasPrefix("┌─ Log ") })
        #expect(lines[39].hasPrefix(" ? help · Tab screens · q quit"))
        #expect(lines.contains { $0.contains("No training log open: press o") })
    }

    @Test("unknown keys leave a hint in the status bar; bound keys clear it")
    func unknownKeyHint() {
        let app = app()
        app.handle(.character("z"))
        #expect(app.isRunning)
        #expect(app.render(size: TerminalSize(columns: 100, rows: 30)).cells.lines[29]
            .contains("z is not bound here: ? lists the keys"))
        app.handle(.function(7))
        #expect(app.hint == "F7 is not bound here: ? lists the keys")
        app.handle(.character("2"))
        #expect(app.hint == nil)
        #expect(app.screen is LogScreen)
    }

    @Test("Tab and Shift-Tab cycle the screens; 1 to 6 jump")
    func screens() {
        let app = app()
        let order = ["Log", "Generate", "Config", "Membranes", "Report", "Training monitor"]
        for title in order {
            app.handle(.tab)
            #expect(app.screen.title == title)
        }
        app.handle(.backTab)
        #expect(app.screen.title == "Report")
        app.handle(.character("4"))
        #expect(app.screen.title == "Config")
        app.handle(.character("5"))
        #expect(app.screen.title == "Membranes")
        app.handle(.character("1"))
        #expect(app.screen.title == "Training monitor")
        app.handle(.character("3"))
        #expect(app.screen.title == "Generate")
        app.handle(.character("2"))
        #expect(app.screen.title == "Log")
        app.handle(.character("6"))
        #expect(app.screen.title == "Report")
    }

    @Test("q and Ctrl-C quit; in a text field q is typed and Ctrl-C still quits")
    func quitting() {
        let first = app()
        first.handle(.character("q"))
        #expect(!first.isRunning)
        let second = app()
        second.handle(.character("o"))
        second.handle(.character("q"))
        #expect(second.isRunning)
        #expect(second.prompt?.field.value == "q")
        second.handle(.control("c"))
        #expect(!second.isRunning)
    }

    @Test("the run loop stops on q (help open or not) and presents frames only when needed")
    func runLoop() {
        let app = app()
        let terminal = TextTerminal(size: TerminalSize(columns: 80, rows: 24), keys: [.character("?"), .character("q")])
        app.run(on: terminal)
        #expect(!app.isRunning)
        #expect(!terminal.scriptExhausted)  // "q" quit, even with help open
        #expect(terminal.presentCount == 1)  // after "?"; "q" ends the loop before a redraw
        #expect(terminal.screenText.contains("Keys"))
    }

    @Test("the open-log prompt validates inline, then follows the file and plots it")
    func openTrainingLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tui-app-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("run.jsonl")
        try Data((1...5).map { "{\"step\":\($0),\"loss\":\(1.0 / Double($0)),\"erase_loss\":0.3,\"anchor_loss\":0.1}\n" }
            .joined().utf8).write(to: file)
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark],
                               screens: [TrainingMonitorScreen(workingDirectory: directory.path), LogScreen()])
        app.handle(.character("o"))
        for character in "missing.jsonl" { app.handle(.character(character)) }
        app.handle(.enter)
        #expect(app.prompt?.field.message == "no such file: \(directory.path)/missing.jsonl")
        #expect(app.render(size: TerminalSize(columns: 100, rows: 30)).cells.lines
            .contains { $0.contains("✗ no such file:") })
        app.handle(.control("u"))
        for character in "run.jsonl" { app.handle(.character(character)) }
        app.handle(.enter)
        #expect(app.prompt == nil)
        let monitor = try #require(app.screen as? TrainingMonitorScreen)
        // Generous: on a 2-core CI machine other tests can hold both cooperative threads for seconds.
        let deadline = Date().addingTimeInterval(60)
        while monitor.run.records.count < 5 && Date() < deadline {
            app.drainCore()
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(monitor.run.records.map(\.step) == [1, 2, 3, 4, 5])
        let lines = app.render(size: TerminalSize(columns: 100, rows: 30)).cells.lines
        #expect(lines.contains { $0.contains("step    5") })
        #expect(lines[1].contains("Loss · run.jsonl"))
        app.handle(.character("c"))
        #expect(monitor.state == .stopped)
        app.core.cancelAll()
    }
}
