import Foundation
import Testing
@testable import TUI

@Suite("Loading the base model in the background")
struct LoadModelJobTests {
    /// Runs the job in the core and returns the log entries it posted.
    func entries(loading path: String) async throws -> [LogEntry] {
        let core = WorkbenchCore()
        core.start(LoadModelJob(path: path), in: .model)
        defer { core.cancelAll() }
        var entries: [LogEntry] = []
        // Generous: on a 2-core CI machine other tests can hold both cooperative threads for seconds.
        let deadline = Date().addingTimeInterval(60)
        while entries.isEmpty && Date() < deadline {
            for case .log(let entry) in core.events.drain() { entries.append(entry) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return entries
    }

    @Test("a diffusers folder loads and is summarised in the log")
    func loadsAFolder() async throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../DiffusionTests/Golden/pipelines/sd1").standardizedFileURL.path
        let logged = try await entries(loading: folder)
        #expect(logged.count == 1)
        #expect(logged.first?.level == .info)
        #expect(logged.first?.message.contains("sd1 layout, UNet channels [8, 16, 16, 24], images in multiples of 16 px") == true,
                "\(logged)")
    }

    @Test("a model that cannot load gives one error line")
    func reportsFailure() async throws {
        let logged = try await entries(loading: "/no/such/model")
        #expect(logged == [LogEntry(.error, "/no/such/model: cannot read: no such file or folder", time: logged.first?.time ?? Date())])
    }
}
