import Diffusion
import Foundation

/// The themes found in `themes/*.yaml`, with the built-in dark theme standing in for any that is missing or
/// wrong; each bad file leaves a one-line problem (`file:line: field: expected …`) for the log.
public struct ThemeLibrary: Sendable {
    public private(set) var themes: [Theme]
    public private(set) var problems: [String]

    /// Loads every `*.yaml` in `directories`; a file name seen in an earlier directory hides later ones, and a
    /// theme named like the built-in one replaces it.
    public static func load(directories: [URL]) -> ThemeLibrary {
        var library = ThemeLibrary(themes: [.dark], problems: [])
        var seen: Set<String> = []
        for directory in directories {
            let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil))
                ?? []
            for file in files.filter({ $0.pathExtension == "yaml" }).sorted(by: { $0.path < $1.path }) {
                guard seen.insert(file.lastPathComponent).inserted else { continue }
                do {
                    let theme = try YAMLDecoder().decode(Theme.self, fromFileAt: file)
                    if let existing = library.themes.firstIndex(where: { $0.name == theme.name }) {
                        library.themes[existing] = theme
                    } else {
                        library.themes.append(theme)
                    }
                } catch {
                    library.problems.append("\(error)")
                }
            }
        }
        return library
    }

    public func index(of name: String) -> Int? { themes.firstIndex { $0.name == name } }
}
