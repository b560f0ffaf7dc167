import Diffusion
import Foundation

/// Writes an `EvaluationReport` as a folder: `index.html`, `report.json` (the report itself), `heatmap.png`,
/// `loss.png`, `grid.png` (every comparison, one row each) and each picture at its own path. The folder appears
/// whole or not at all: it is written beside its place under a temporary name, then renamed.
public enum EvaluationReportWriter {
    /// `images[i][j]` is comparison i's picture j. Returns the page's URL.
    @discardableResult
    public static func write(_ report: EvaluationReport, images: [[RGBImage]], to folder: URL) throws -> URL {
        guard images.count == report.comparisons.count else {
            throw EvaluationReportError.picturesMissing(comparison: min(images.count, report.comparisons.count),
                                                        expected: report.comparisons.count, given: images.count)
        }
        for (index, (comparison, given)) in zip(report.comparisons, images).enumerated() where comparison.pictures.count != given.count {
            throw EvaluationReportError.picturesMissing(comparison: index, expected: comparison.pictures.count, given: given.count)
        }
        let manager = FileManager.default
        let parent = folder.deletingLastPathComponent()
        let partial = parent.appendingPathComponent(".\(folder.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try manager.createDirectory(at: parent, withIntermediateDirectories: true)
            try? manager.removeItem(at: partial)
            try manager.createDirectory(at: partial, withIntermediateDirectories: true)
            for (comparison, pictures) in zip(report.comparisons, images) {
                for (picture, image) in zip(comparison.pictures, pictures) {
                    let url = partial.appendingPathComponent(picture.file)
                    try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try PNGFile.write(image, to: url)
                }
            }
            if let heatMap = report.heatMap {
                try PNGFile.write(ReportCharts.heatMap(heatMap), to: partial.appendingPathComponent("heatmap.png"))
            }
            if let curve = report.lossCurve {
                try PNGFile.write(ReportCharts.lossCurve(curve), to: partial.appendingPathComponent("loss.png"))
            }
            if let grid = grid(images) {
                try PNGFile.write(grid, to: partial.appendingPathComponent("grid.png"))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: partial.appendingPathComponent("report.json"))
            try Data(html(report).utf8).write(to: partial.appendingPathComponent("index.html"))
            // Swap the finished folder in; an earlier report of the same name goes only once the new one is there.
            let previous = parent.appendingPathComponent(".\(folder.lastPathComponent).old-\(ProcessInfo.processInfo.processIdentifier)")
            let replacing = manager.fileExists(atPath: folder.path)
            if replacing { try manager.moveItem(at: folder, to: previous) }
            try manager.moveItem(at: partial, to: folder)
            if replacing { try? manager.removeItem(at: previous) }
        } catch let error as EvaluationReportError {
            try? manager.removeItem(at: partial)
            throw error
        } catch {
            try? manager.removeItem(at: partial)
            throw EvaluationReportError.cannotWrite(path: folder.path, reason: (error as NSError).localizedDescription)
        }
        return folder.appendingPathComponent("index.html")
    }

    /// Every comparison as a row of its pictures, small images enlarged to at least 128 pixels; a picture of
    /// another size than the first (or a missing one) is drawn as a grey square.
    static func grid(_ images: [[RGBImage]]) -> RGBImage? {
        guard let first = images.first?.first else { return nil }
        let columns = images.map(\.count).max() ?? 1
        let blank = RGBImage(width: first.width, height: first.height,
                             pixels: [UInt8](repeating: 160, count: first.width * first.height * 3))
        let cells = images.flatMap { row in
            (0..<columns).map { column in
                column < row.count && row[column].width == first.width && row[column].height == first.height ? row[column] : blank
            }
        }
        return RGBImage.grid(cells, columns: columns, zoom: max(1, 128 / max(first.width, first.height)), gap: 2)
    }

    // MARK: The page

    static func html(_ report: EvaluationReport) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(report.title))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
            th:first-child, td.prompt { text-align: left; }
            td.prompt { max-width: 28em; }
            img.picture { image-rendering: pixelated; width: 128px; height: auto; display: block; }
            img.chart { image-rendering: pixelated; max-width: 100%; }
            .settings, .note { color: #555; }
            </style></head><body>
            <h1>\(escape(report.title))</h1>

            """
        page += "<ul class=\"settings\">" + (["task: \(report.task)"] + report.settings).map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n"
        page += "<h2>Summary</h2>\n<table>"
            + report.figures.map { "<tr><th>\(escape($0.name))</th>\(cell($0.value, $0.format))</tr>" }.joined() + "</table>\n"
        for table in report.tables { page += section(table) }
        if let heatMap = report.heatMap {
            page += "<h2>\(escape(heatMap.table.title))</h2>\n"
                + "<p><img class=\"chart\" src=\"heatmap.png\" alt=\"heat map: \(escape(heatMap.table.title))\"></p>\n"
                + "<p class=\"note\">dark: 0%, yellow: 100%, grey: not measured; framed (✗ below): the concepts the setting erases.</p>\n"
                + table(heatMap.table, marked: heatMap.marked)
        }
        if let curve = report.lossCurve {
            page += "<h2>Training loss</h2>\n<p><img class=\"chart\" src=\"loss.png\" alt=\"loss per step\"></p>\n"
                + "<p class=\"note\">\(escape(curve.source)): <span data-value=\"\(curve.steps.count)\">\(curve.steps.count)</span> steps"
                + (curve.steps.first.map { " (\($0)–\(curve.steps.last ?? $0))" } ?? "")
                + ", last loss \(span(curve.losses.last, .number)); the plot spans the lowest to the highest loss.</p>\n"
        }
        if !report.comparisons.isEmpty {
            let labels = report.comparisons.max { $0.pictures.count < $1.pictures.count }?.pictures.map(\.label) ?? []
            page += "<h2>Images</h2>\n<p><img class=\"chart\" src=\"grid.png\" alt=\"every prompt: \(escape(labels.joined(separator: " | ")))\"></p>\n"
            page += "<table><tr><th>prompt</th><th>seed</th>" + labels.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
            for comparison in report.comparisons {
                page += "<tr><td class=\"prompt\">\(escape(comparison.prompt))"
                    + (comparison.negativePrompt.map { "<br><span class=\"note\">negative: \(escape($0))</span>" } ?? "")
                    + "</td><td>\(comparison.seed)</td>"
                for picture in comparison.pictures {
                    page += "<td><img class=\"picture\" src=\"\(escape(picture.file))\" alt=\"\(escape(picture.label))\">"
                    if let reading = picture.reading { page += "<span class=\"note\">\(escape(reading))</span>" }
                    for gate in picture.gates {
                        page += "<br><span class=\"note\">\(escape(gate.slot))"
                            + (gate.similarity.map { String(format: " sim %.3f", $0) } ?? "")
                            + " gate</span> \(span(gate.gate, .number))"
                    }
                    page += "</td>"
                }
                page += "</tr>\n"
            }
            page += "</table>\n"
        }
        page += "<p><a href=\"report.json\">report.json</a>: every number on this page, and the task's own report.</p>\n</body></html>\n"
        return page
    }

    private static func section(_ table: EvaluationReport.Table) -> String {
        "<h2>\(escape(table.title))</h2>\n" + self.table(table, marked: nil)
    }

    private static func table(_ table: EvaluationReport.Table, marked: [[Bool]]?) -> String {
        "<table><tr><th></th>" + table.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            + table.rows.enumerated().map { row, entry in
                "<tr><th>\(escape(entry.label))</th>" + entry.values.enumerated().map { column, value in
                    cell(value, column < table.formats.count ? table.formats[column] : .number, marked: marked?[row][column] ?? false)
                }.joined() + "</tr>"
            }.joined() + "</table>\n"
    }

    private static func cell(_ value: Double?, _ format: EvaluationReport.Format, marked: Bool = false) -> String {
        "<td>" + (marked ? "✗ " : "") + span(value, format) + "</td>"
    }

    /// A number as shown, its exact value in `data-value` ("null" when missing) for whoever checks the page.
    private static func span(_ value: Double?, _ format: EvaluationReport.Format) -> String {
        guard let value else { return "<span data-value=\"null\">\(format.text(nil))</span>" }
        return "<span data-value=\"\(value)\">\(format.text(value))</span>"
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
