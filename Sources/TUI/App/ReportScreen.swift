import Foundation
import Membrane

/// The numbers of the newest evaluation report under `out/reports` (what `evaluate --report out/reports/NAME`
/// writes): its figures, tables and heat map as text, and where its page is. Loaded when the screen first shows;
/// `r` reads the newest again.
public final class ReportScreen: Screen {
    public let title = "Report"
    public let keyScope = KeyScope.report
    let reports: URL
    private(set) var state = State.notLoaded
    private var scroll = 0

    enum State {
        case notLoaded, loading
        case loaded(LoadedReport)
        case failed(String)
    }

    public init(reports: URL = URL(fileURLWithPath: "out/reports")) {
        self.reports = reports
    }

    public func perform(_ action: Action) -> [ScreenEffect] {
        switch action {
        case .reloadReport: return load()
        case .scrollUp: scroll = max(0, scroll - 1)
        case .scrollDown: scroll += 1
        case .pageUp: scroll = max(0, scroll - 10)
        case .pageDown: scroll += 10
        default: break
        }
        return []
    }

    public func refresh() -> [ScreenEffect] {
        if case .notLoaded = state { return load() }
        return []
    }

    private func load() -> [ScreenEffect] {
        state = .loading
        scroll = 0
        return [.startJob(LoadReportJob(reports: reports), .report)]
    }

    public func receive(_ event: CoreEvent) -> Bool {
        guard case .report(let result) = event else { return false }
        switch result {
        case .success(let loaded): state = .loaded(loaded)
        case .failure(let error): state = .failed(error.message)
        }
        return true
    }

    /// The report as lines of text, in the page's order.
    static func lines(_ loaded: LoadedReport) -> [String] {
        let report = loaded.report
        var lines = [report.title, "page: \(loaded.folder)/index.html", "task: \(report.task)"] + report.settings + ["", "Summary"]
        let nameWidth = min(52, report.figures.map { terminalWidth(of: $0.name) }.max() ?? 0)
        lines += report.figures.map { "  " + padded(truncated($0.name, toWidth: nameWidth), toWidth: nameWidth) + "  " + $0.format.text($0.value) }
        func table(_ table: EvaluationReport.Table, marked: [[Bool]]?) -> [String] {
            let labelWidth = min(28, table.rows.map { terminalWidth(of: $0.label) }.max() ?? 0)
            let widths = table.columns.map { max(8, terminalWidth(of: $0)) }
            func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - terminalWidth(of: text))) + text }
            var lines = ["", table.title, "  " + padded("", toWidth: labelWidth) + zip(table.columns, widths).map { "  " + right($0, $1) }.joined()]
            for (row, entry) in table.rows.enumerated() {
                lines.append("  " + padded(truncated(entry.label, toWidth: labelWidth), toWidth: labelWidth) + entry.values.enumerated().map { column, value in
                    let mark = marked?[row][column] == true ? "✗ " : ""
                    return "  " + right(mark + table.formats[column].text(value), column < widths.count ? widths[column] : 8)
                }.joined())
            }
            return lines
        }
        for entry in report.tables { lines += table(entry, marked: nil) }
        if let heatMap = report.heatMap { lines += table(heatMap.table, marked: heatMap.marked) }
        if let curve = report.lossCurve {
            lines += ["", "Training loss (\(curve.source)): \(curve.steps.count) steps, last \(EvaluationReport.Format.number.text(curve.losses.last))"]
        }
        if !report.comparisons.isEmpty {
            lines += ["", "Images: \(report.comparisons.count) prompts with their gates — grid.png and index.html in the report folder"]
        }
        return lines
    }

    public func draw(on surface: inout Surface, context: ScreenContext) {
        Panel(title: "Report · r reads the newest").draw(on: &surface) { inner in
            let lines: [(String, ColorRole)]
            switch state {
            case .notLoaded, .loading: lines = [("Reading the newest report in \(reports.path) …", .muted)]
            case .failed(let message): lines = [(message, .warning)]
            case .loaded(let loaded):
                lines = Self.lines(loaded).enumerated().map { index, line in (line, index == 0 ? .title : .text) }
            }
            scroll = min(scroll, max(0, lines.count - inner.height))
            for (row, line) in lines.dropFirst(scroll).prefix(inner.height).enumerated() {
                inner.write(truncated(line.0, toWidth: inner.width), x: 0, y: row, role: line.1)
            }
        }
    }
}
