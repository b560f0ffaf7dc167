import Diffusion
import Foundation
import Membrane

/// The newest evaluation report, as `evaluate --report` wrote it.
public struct LoadedReport: Sendable {
    /// The report's folder (index.html, report.json and the PNGs).
    public var folder: String
    public var report: EvaluationReport
}

/// Finds the newest `report.json` in the folders under `reports` (by the time it was written) and reads it.
public struct LoadReportJob: CoreJob {
    public let reports: URL

    public init(reports: URL) {
        self.reports = reports
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let reports = self.reports
        let result = await onOwnThread { () -> Result<LoadedReport, ReportLoadError> in
            let manager = FileManager.default
            let folders = (try? manager.contentsOfDirectory(at: reports, includingPropertiesForKeys: nil)) ?? []
            let written = folders.compactMap { folder -> (URL, Date)? in
                let file = folder.appendingPathComponent("report.json")
                guard let date = (try? manager.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date else { return nil }
                return (folder, date)
            }
            guard let newest = written.max(by: { $0.1 < $1.1 })?.0 else {
                return .failure(ReportLoadError(message: "no reports in \(reports.path) yet: spm-workbench evaluate … --report \(reports.path)/NAME writes one"))
            }
            let file = newest.appendingPathComponent("report.json")
            do {
                let report = try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: file))
                return .success(LoadedReport(folder: newest.path, report: report))
            } catch {
                return .failure(ReportLoadError(message: "\(file.path): not an evaluation report (\(error.localizedDescription))"))
            }
        }
        post(.report(result))
    }
}

public struct ReportLoadError: Error, Sendable, Equatable {
    public var message: String
}
