import Testing
@testable import TUI

@Suite("Key map and help")
struct KeyMapTests {
    @Test("every action has a key, and no key is bound twice in one scope")
    func completeness() {
        let bindings = KeyMap.standard.bindings
        for action in Action.allCases { #expect(bindings.contains { $0.action == action }, "no key for \(action)") }
        for (index, binding) in bindings.enumerated() {
            #expect(!bindings[(index + 1)...].contains { $0.key == binding.key && $0.scope == binding.scope },
                    "\(binding.key.label) bound twice in \(binding.scope)")
        }
    }

    @Test("the help overlay lists every binding: its key and its help text")
    func helpListsEverything() {
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark])
        app.handle(.character("?"))
        // Every screen's keys are more than one page: read the overlay page by page.
        var pages: [String] = []
        for _ in 0..<15 {
            pages.append(app.render(size: TerminalSize(columns: 140, rows: 40)).cells.lines.joined(separator: "\n"))
            app.handle(.pageDown)
        }
        let text = pages.joined(separator: "\n")
        for scope in [KeyScope.configEditor, .membraneRack, .generate, .trainingMonitor, .log] {
            #expect(text.contains(scope.title), "help lacks the \(scope.title) section")
        }
        for section in KeyMap.standard.helpSections { #expect(text.contains(section.title)) }
        for binding in KeyMap.standard.bindings {
            #expect(text.contains(binding.help), "help lacks \"\(binding.help)\"")
            let keyLine = text.split(separator: "\n").contains { $0.contains(binding.key.label) && $0.contains(binding.help) }
            #expect(keyLine, "no help line shows \(binding.key.label) with \"\(binding.help)\"")
        }
    }

    @Test("help that does not fit scrolls")
    func helpScrolls() {
        let app = WorkbenchApp(options: WorkbenchOptions(), themes: [.dark])
        app.handle(.character("?"))
        let size = TerminalSize(columns: 80, rows: 14)
        let before = app.render(size: size).cells.lines
        #expect(before.joined().contains("Anywhere"))
        for _ in 0..<20 { app.handle(.pageDown) }  // clamped at the end
        let after = app.render(size: size).cells.lines
        #expect(!after.joined().contains("Anywhere"))
        #expect(after.joined().contains("accept the value"))  // the last entry is reachable
        app.handle(.escape)
        #expect(!app.helpVisible)
    }

    @Test("scopes: the first scope that binds a key wins")
    func scopes() {
        let map = KeyMap.standard
        #expect(map.binding(for: .character("?"), in: [.help, .global])?.action == .closeOverlay)
        #expect(map.binding(for: .character("?"), in: [.global])?.action == .toggleHelp)
        #expect(map.binding(for: .character("q"), in: [.always, .prompt]) == nil)
        #expect(map.binding(for: .control("c"), in: [.always, .prompt])?.action == .quit)
    }

    @Test("curses key codes decode to keys")
    func decoding() {
        #expect(Terminal.decodeCharacter(3) == .control("c"))
        #expect(Terminal.decodeCharacter(13) == .enter)
        #expect(Terminal.decodeCharacter(27) == .escape)
        #expect(Terminal.decodeCharacter(127) == .backspace)
        #expect(Terminal.decodeCharacter(Int32(UnicodeScalar("é").value)) == .character("é"))
        #expect(Terminal.decodeKeyCode(0o403) == .up)  // KEY_UP
        #expect(Terminal.decodeKeyCode(0o410 + 5) == .function(5))  // KEY_F(5)
        #expect(Key.control("c").label == "Ctrl-C")
    }
}
