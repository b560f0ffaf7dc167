import Foundation
import Testing
@testable import TUI

@Suite("Themes")
struct ThemeTests {
    @Test("colour spellings: default, ANSI names, bright names, indices")
    func colors() {
        #expect(ThemeColor(text: "default")?.terminalColor == .standard)
        #expect(ThemeColor(text: "red")?.terminalColor == .indexed(1))
        #expect(ThemeColor(text: "Bright-White")?.terminalColor == .indexed(15))
        #expect(ThemeColor(text: "208")?.terminalColor == .indexed(208))
        #expect(ThemeColor(text: "256") == nil)
        #expect(ThemeColor(text: "reddish") == nil)
    }

    @Test("roles map to the theme's colours")
    func roles() {
        let theme = Theme.dark
        #expect(theme.style(.error).foreground == .indexed(203) && theme.style(.error).bold)
        #expect(theme.style(.selection) == CellStyle(foreground: .indexed(16), background: .indexed(75)))
        #expect(theme.style(.series(5)).foreground == theme.chart[1].terminalColor)  // wraps around
    }

    @Test("a theme decodes from any Decodable source (JSON here) and rejects bad colours")
    func decoding() throws {
        let json = """
        {"name":"t","background":"default","text":"white","muted":8,"accent":"bright-blue","border":"240",
         "warning":"yellow","error":"red","success":"green","selection_foreground":"black",
         "selection_background":"cyan","status_foreground":"black","status_background":"white","chart":["red",4]}
        """
        let theme = try JSONDecoder().decode(Theme.self, from: Data(json.utf8))
        #expect(theme.muted.terminalColor == .indexed(8) && theme.accent.terminalColor == .indexed(12))
        #expect(theme.chart.map(\.terminalColor) == [.indexed(1), .indexed(4)] && !theme.boldAccents)
        let bad = json.replacingOccurrences(of: "\"white\",\"muted\"", with: "\"whiteish\",\"muted\"")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Theme.self, from: Data(bad.utf8)) }
        let noChart = json.replacingOccurrences(of: "[\"red\",4]", with: "[]")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Theme.self, from: Data(noChart.utf8)) }
    }

    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("themes")

    @Test("the shipped themes decode; dark.yaml is the built-in theme")
    func shippedThemes() {
        let library = ThemeLibrary.load(directories: [ThemeTests.shipped])
        #expect(library.problems.isEmpty, "\(library.problems)")
        #expect(library.themes.map(\.name).sorted() == ["dark", "high-contrast", "light"])
        #expect(library.themes[library.index(of: "dark")!] == .dark)
        let contrast = library.themes[library.index(of: "high-contrast")!]
        #expect(contrast.boldAccents && contrast.background.terminalColor == .indexed(0))
        #expect(contrast.text.terminalColor == .indexed(15))
        let light = library.themes[library.index(of: "light")!]
        #expect(light.background.terminalColor == .indexed(255) && light.chart.count == 4)
    }

    @Test("a bad theme file is one line naming file, line and field; the built-in theme stays")
    func badThemeFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("themes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dark = try String(contentsOf: ThemeTests.shipped.appendingPathComponent("dark.yaml"), encoding: .utf8)
        try dark.replacingOccurrences(of: "name: dark", with: "name: broken")
            .replacingOccurrences(of: "warning: 214", with: "warning: orangeish")
            .write(to: directory.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try "name: typo\ntext_colour: 1\n".write(to: directory.appendingPathComponent("typo.yaml"), atomically: true,
                                                  encoding: .utf8)
        let library = ThemeLibrary.load(directories: [directory])
        #expect(library.themes == [.dark])
        #expect(library.problems.count == 2)
        let broken = try #require(library.problems.first)
        #expect(broken.hasPrefix(directory.appendingPathComponent("broken.yaml").path + ":9: warning: "))
        #expect(broken.contains("orangeish"))
        #expect(library.problems.allSatisfy { !$0.contains("\n") })
    }

    @Test("no theme files: the built-in dark theme alone")
    func builtIn() {
        let library = ThemeLibrary.load(directories: [URL(fileURLWithPath: "/nonexistent")])
        #expect(library.themes == [.dark] && library.problems.isEmpty)
    }
}
