import Foundation

/// The themes found in `themes/*.yaml`, with the built-in dark theme standing in for any that is missing or
/// wrong; each bad file leaves a one-line problem for the log.
public struct ThemeLibrary: Sendable {
    public private(set) var themes: [Theme]
    public private(set) var problems: [String]

    /// Decodes one theme file's text (`file` names it in error messages).
    public typealias Decode = @Sendable (_ text: String, _ file: String) throws -> Theme

    public static func load(directories: [URL], decode: Decode? = nil) -> ThemeLibrary {
        var library = ThemeLibrary(themes: [.dark], problems: [])
        guard let decode else { return library }
        var seen: Set<String> = []
        for directory in directories {
            let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil))
                ?? []
            for file in files.filter({ $0.pathExtension == "yaml" }).sorted(by: { $0.path < $1.path }) {
                let stem = file.deletingPathExtension().lastPathComponent
                guard seen.insert(stem).inserted else { continue }
                do {
                    let text = try String(contentsOf: file, encoding: .utf8)
                    let theme = try decode(text, file.path)
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
