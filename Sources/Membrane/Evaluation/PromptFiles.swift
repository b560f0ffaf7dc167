import Foundation

/// A prompt file of the paper's evaluation tasks could not be read: one line naming the file, the line and what
/// was expected.
public struct PromptFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var problem: String

    public var description: String { "\(file)\(line.map { ": line \($0)" } ?? ""): \(problem)" }
}

/// RFC 4180 comma-separated values: quoted fields may hold commas, doubled quotes and line breaks; the first
/// record names the columns. I2P's and the artwork lists' prompts are full of commas and quotes.
public struct CSVTable: Sendable, Equatable {
    public var columns: [String]
    /// Each record with the line it starts on.
    public var records: [(line: Int, fields: [String])]

    public static func == (a: CSVTable, b: CSVTable) -> Bool {
        a.columns == b.columns && a.records.map(\.line) == b.records.map(\.line) && a.records.map(\.fields) == b.records.map(\.fields)
    }

    public init(text: String, file: String) throws {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field = "", quoted = false, fieldWasQuoted = false
        var line = 1, recordLine = 1
        var characters = Array(text.replacingOccurrences(of: "\r\n", with: "\n")).makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let character = pending { pending = nil; return character }
            return characters.next()
        }
        while let character = next() {
            if quoted {
                if character == "\"" {
                    if let following = next() {
                        if following == "\"" { field.append("\"") } else { quoted = false; pending = following }
                    } else { quoted = false }
                } else {
                    if character == "\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty && !fieldWasQuoted:
                quoted = true
                fieldWasQuoted = true
            case ",":
                fields.append(field)
                field = ""
                fieldWasQuoted = false
            case "\n":
                fields.append(field)
                if fields != [""] { records.append((recordLine, fields)) }
                fields = []
                field = ""
                fieldWasQuoted = false
                line += 1
                recordLine = line
            default:
                field.append(character)
            }
        }
        if quoted { throw PromptFileError(file: file, line: recordLine, problem: "a quoted field is not closed (expected a closing \")") }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted {
            fields.append(field)
            records.append((recordLine, fields))
        }
        guard let header = records.first else { throw PromptFileError(file: file, line: nil, problem: "empty (expected a header line naming the columns)") }
        columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        self.records = Array(records.dropFirst())
        for record in self.records where record.fields.count != columns.count {
            throw PromptFileError(file: file, line: record.line,
                                  problem: "\(record.fields.count) fields, expected \(columns.count) (\(columns.joined(separator: ",")))")
        }
    }

    public static func read(_ url: URL) throws -> CSVTable {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw PromptFileError(file: url.path, line: nil, problem: "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PromptFileError(file: url.path, line: nil, problem: "not UTF-8 text")
        }
        return try CSVTable(text: text, file: url.path)
    }
}

/// One generation of a paper task: what to draw, with which seed and settings, and what it is about.
public struct TaskPrompt: Codable, Sendable, Equatable {
    /// Names the row's image files: the file's own id column (case_number, image_id) or the row's index.
    public var id: String
    public var prompt: String
    public var seed: UInt64
    /// The row's own settings (I2P records them); nil: the run's.
    public var guidance: Float?
    public var width: Int?
    public var height: Int?
    /// What the row is about: the class (general), the artist (artwork), the categories (i2p); nil for captions.
    public var group: String?

    public init(id: String, prompt: String, seed: UInt64, guidance: Float? = nil, width: Int? = nil, height: Int? = nil,
                group: String? = nil) {
        self.id = id
        self.prompt = prompt
        self.seed = seed
        self.guidance = guidance
        self.width = width
        self.height = height
        self.group = group
    }
}

/// The evaluation tasks of the SPM paper, on prompt files the user supplies.
public enum PaperTask: String, CaseIterable, Codable, Sendable {
    /// A list of classes (one per line) × prompt templates × images per prompt; scored by CLIP accuracy (is the
    /// image classified as its class among all the listed ones).
    case general
    /// Artist prompts, a CSV with `prompt`, `artist` and `evaluation_seed` (or `seed`) columns, `case_number`
    /// optional; scored by CLIP score against the prompt and CLIP accuracy among the artists.
    case artwork
    /// Inappropriate Image Prompts: a CSV with `prompt` and optionally `sd_seed`, `sd_guidance_scale`,
    /// `sd_image_width`, `sd_image_height`, `categories`; scored by an external detector (e.g. NudeNet).
    case i2p
    /// Captions, a CSV with `caption` (or `prompt`) and optionally `image_id`, `seed`; scored by CLIP score.
    case coco

    /// ImageNet-style templates for `general` (CLIP's zero-shot prompt style): `{}` is the class.
    public static let generalTemplates = [
        "a photo of a {}.", "a painting of a {}.", "a sketch of a {}.", "a close-up photo of a {}.",
        "a bright photo of a {}.", "a cropped photo of a {}.", "a rendering of a {}.", "a drawing of a {}.",
        "a photo of the large {}.", "a photo of the small {}.",
    ]

    /// The task's prompts from `file`. `seed` seeds rows that give none (each row its own: seed + index);
    /// `limit` keeps the first rows only.
    public func prompts(file: URL, templates: [String] = PaperTask.generalTemplates, imagesPerPrompt: Int = 1,
                        seed: UInt64 = 0, limit: Int? = nil) throws -> [TaskPrompt] {
        var prompts: [TaskPrompt]
        switch self {
        case .general:
            guard let data = FileManager.default.contents(atPath: file.path), let text = String(data: data, encoding: .utf8) else {
                throw PromptFileError(file: file.path, line: nil, problem: "cannot be read as UTF-8 text")
            }
            let classes = text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !classes.isEmpty else { throw PromptFileError(file: file.path, line: nil, problem: "no classes (expected one per line)") }
            for template in templates where !template.contains("{}") {
                throw PromptFileError(file: file.path, line: nil, problem: "template '\(template)' has no {} for the class")
            }
            prompts = []
            for (classIndex, name) in classes.enumerated() {
                for (templateIndex, template) in templates.enumerated() {
                    for image in 0..<max(imagesPerPrompt, 1) {
                        prompts.append(TaskPrompt(id: "\(classIndex)-\(templateIndex)-\(image)",
                                                  prompt: template.replacingOccurrences(of: "{}", with: name),
                                                  seed: seed &+ UInt64(prompts.count), group: name))
                    }
                }
            }
        case .artwork, .i2p, .coco:
            let table = try CSVTable.read(file)
            func column(_ names: [String]) -> Int? { names.lazy.compactMap { table.columns.firstIndex(of: $0) }.first }
            let promptColumns = self == .coco ? ["caption", "prompt"] : ["prompt"]
            guard let promptColumn = column(promptColumns) else {
                throw PromptFileError(file: file.path, line: 1, problem: "no \(promptColumns.joined(separator: " or ")) column (columns: \(table.columns.joined(separator: ", ")))")
            }
            let (idColumn, seedColumn, groupColumn) = switch self {
            case .artwork: (column(["case_number"]), column(["evaluation_seed", "seed"]), column(["artist"]))
            case .i2p: (nil, column(["sd_seed", "seed"]), column(["categories"]))
            default: (column(["image_id"]), column(["seed"]), nil)
            }
            let (guidanceColumn, widthColumn, heightColumn) = self == .i2p
                ? (column(["sd_guidance_scale"]), column(["sd_image_width"]), column(["sd_image_height"])) : (nil, nil, nil)
            prompts = try table.records.enumerated().map { index, record in
                func number<T: LosslessStringConvertible>(_ column: Int?, as: T.Type, expected: String) throws -> T? {
                    guard let column else { return nil }
                    let text = record.fields[column].trimmingCharacters(in: .whitespaces)
                    guard !text.isEmpty else { return nil }
                    // Pandas writes integer columns with missing values as floats: "42.0".
                    let whole = text.hasSuffix(".0") ? String(text.dropLast(2)) : text
                    guard let value = T(whole) ?? T(text) else {
                        throw PromptFileError(file: file.path, line: record.line,
                                              problem: "column '\(table.columns[column])' is '\(text)', expected \(expected)")
                    }
                    return value
                }
                return TaskPrompt(id: idColumn.map { record.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 } ?? "\(index)",
                                  prompt: record.fields[promptColumn],
                                  seed: try number(seedColumn, as: UInt64.self, expected: "a whole number ≥ 0") ?? seed &+ UInt64(index),
                                  guidance: try number(guidanceColumn, as: Float.self, expected: "a number"),
                                  width: try number(widthColumn, as: Int.self, expected: "a width in pixels"),
                                  height: try number(heightColumn, as: Int.self, expected: "a height in pixels"),
                                  group: groupColumn.map { record.fields[$0] })
            }
        }
        if let limit { prompts = Array(prompts.prefix(limit)) }
        return prompts
    }
}
