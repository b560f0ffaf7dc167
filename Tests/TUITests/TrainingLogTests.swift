import Foundation
import Testing
import Membrane
@testable import TUI

@Suite("Training log")
struct TrainingLogTests {
    @Test("parser: whole lines only, partial lines wait, bad lines are reported with their number")
    func parser() {
        var parser = TrainingLogParser()
        let first = parser.consume(Data("{\"step\":1,\"loss\":0.5,\"erase_loss\":0.4,\"anchor_loss\":0.1,\"lr\":1e-4}\n{\"st".utf8))
        #expect(first.records == [TrainingRecord(step: 1, loss: 0.5, eraseLoss: 0.4, anchorLoss: 0.1,
                                                 learningRate: 1e-4)])
        let second = parser.consume(Data("ep\":2,\"loss\":0.25}\n\nnot json\n{\"step\":3}\n{\"step\":\"x\",\"loss\":1}\n".utf8))
        #expect(second.records.map(\.step) == [2])
        #expect(second.problems == ["line 4: expected a JSON object", "line 5: missing field loss",
                                    "line 6: step: expected a number"])
    }

    @Test("run: series, rate, progress and ETA from logged fields only")
    func run() {
        var run = TrainingRun()
        #expect(run.series.isEmpty && run.progress == nil && run.stepsPerSecond == nil)
        var batch = TrainingLogParser.Batch()
        batch.records = [TrainingRecord(step: 10, loss: 1, eraseLoss: 0.9, totalSteps: 100, elapsedSeconds: 5),
                         TrainingRecord(step: 30, loss: 0.5, eraseLoss: 0.4, totalSteps: 100, elapsedSeconds: 15)]
        run.absorb(batch)
        #expect(run.series.map(\.name) == ["erase", "loss"])  // no anchor loss was logged
        #expect(run.series[0].points.map(\.x) == [10, 30])
        #expect(run.stepsPerSecond == 2)
        #expect(run.progress == 0.3)
        #expect(run.secondsRemaining == 35)
        #expect(formatDuration(35) == "35s" && formatDuration(200) == "3m20s" && formatDuration(3720) == "1h02m")
    }

    @Test("following a file: reads what is there, then appended lines, and starts over when truncated")
    func follow() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("follow-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("{\"step\":1,\"loss\":1}\n".utf8).write(to: url)
        let core = WorkbenchCore()
        core.start(FollowTrainingLog(path: url.path, generation: 7, pollInterval: .milliseconds(10)), in: .trainingLog)
        defer { core.cancelAll() }
        var steps: [Int] = []
        var starts = 0
        func collect(until done: () -> Bool) async throws {
            // Generous: on a 2-core CI machine other tests can hold both cooperative threads for seconds.
            let deadline = Date().addingTimeInterval(60)
            while !done() && Date() < deadline {
                for event in core.events.drain() {
                    guard case .trainingLog(let generation, let news) = event else { continue }
                    #expect(generation == 7)
                    switch news {
                    case .started: starts += 1; steps = []
                    case .batch(let batch): steps += batch.records.map(\.step)
                    case .failed(let message): Issue.record("unexpected failure: \(message)")
                    }
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await collect { steps == [1] }
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"step\":2,\"loss\":0.5}\n{\"step\":3,".utf8))
        try await collect { steps == [1, 2] }
        try handle.write(contentsOf: Data("\"loss\":0.25}\n".utf8))
        try handle.close()
        try await collect { steps == [1, 2, 3] }
        #expect(steps == [1, 2, 3] && starts == 1)
        try Data("{\"step\":1,\"loss\":9}\n".utf8).write(to: url)  // a new run replaces the file
        try await collect { starts == 2 && steps == [1] }
        #expect(starts == 2 && steps == [1])
    }

    @Test("a missing file is reported once, and cancelling stops the job")
    func missingAndCancel() async throws {
        let core = WorkbenchCore()
        core.start(FollowTrainingLog(path: "/nonexistent/run.jsonl", generation: 1, pollInterval: .milliseconds(5)),
                   in: .trainingLog)
        try await Task.sleep(for: .milliseconds(100))
        core.cancel(.trainingLog)
        let events = core.events.drain()
        #expect(events.count == 1)
        if case .trainingLog(1, .failed(let message)) = events.first {
            #expect(message == "/nonexistent/run.jsonl: no such file (waiting for it to appear)")
        } else {
            Issue.record("expected a failure event, got \(events)")
        }
    }
}
