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

    @Test("without a decoder or files the library is the built-in dark theme")
    func builtIn() {
        let library = ThemeLibrary.load(directories: [URL(fileURLWithPath: "/nonexistent")])
        #expect(library.themes == [.dark] && library.problems.isEmpty)
    }
}
