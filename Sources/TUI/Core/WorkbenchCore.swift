import Foundation
import Membrane
import Synchronization

/// A thread-safe queue of messages: the core posts, the UI loop drains between key polls.
public final class Mailbox<Message: Sendable>: Sendable {
    private let messages = Mutex<[Message]>([])

    public init() {}

    public func post(_ message: Message) { messages.withLock { $0.append(message) } }

    /// Everything posted since the last drain, oldest first.
    public func drain() -> [Message] { messages.withLock { queue in defer { queue.removeAll() }; return queue } }
}

/// What the core tells the UI. Each long job reports through these; the UI only draws them.
public enum CoreEvent: Sendable {
    case log(LogEntry)
    /// News from a followed training log; `generation` tells apart the file followed now from older ones.
    case trainingLog(generation: Int, TrainingLogEvent)
    /// The base model finished loading (the store holds it now).
    case modelLoaded(path: String, sizeMultiple: Int)
    /// News from generation number `Int` (a newer generation supersedes older ones).
    case generation(Int, GenerationEvent)
    /// The membranes attached to the model now, in gate order (one more was added).
    case membranesAttached([MembraneChoice])
    /// News from training run number `generation` (started from the workbench).
    case training(generation: Int, TrainingJobEvent)
    /// Facilitated transport's gates for the rack, computed for request number `generation`.
    case transportGates(generation: Int, Result<[SlotGate], TransportGatesError>)
    /// Previews of a checkpoint of training run number `generation`.
    case trainingPreview(generation: Int, TrainingPreviewEvent)
    /// The newest evaluation report, read.
    case report(Result<LoadedReport, ReportLoadError>)
}

public enum TrainingLogEvent: Sendable {
    /// The file was opened (or reopened after being replaced or truncated): forget earlier records.
    case started(path: String)
    case batch(TrainingLogParser.Batch)
    case failed(String)
}

/// Long work the core runs off the UI thread. Jobs check `Task.isCancelled` often: cancelling must be
/// immediate. Training and generation jobs join here as the engine lands.
public protocol CoreJob: Sendable {
    func run(post: @escaping @Sendable (CoreEvent) -> Void) async
}

/// Named places for jobs: starting a job in a slot cancels the one that ran there.
public enum JobSlot: Hashable, Sendable {
    case trainingLog
    case model
    case generation
    /// Reading and attaching a membrane added in the rack.
    case membranes
    /// Writing the rack's mix as a merged membrane.
    case merge
    /// A training run started from the workbench.
    case training
    /// Facilitated transport's gates of the rack's membranes for the generate prompt.
    case transportGates
    /// Previews of the latest checkpoint of the training run started from the workbench.
    case trainingPreview
    /// Reading the newest evaluation report.
    case report
}

/// The background core: owns every long job, runs each as its own task, and reports through a mailbox.
/// Starting and cancelling take a lock for a moment and never wait for work, so the UI never blocks on it.
public final class WorkbenchCore: Sendable {
    public let events: Mailbox<CoreEvent>
    private let jobs = Mutex<[JobSlot: Task<Void, Never>]>([:])

    public init(events: Mailbox<CoreEvent> = Mailbox()) { self.events = events }

    public func start(_ job: some CoreJob, in slot: JobSlot) {
        let events = self.events
        let task = Task.detached { await job.run(post: { events.post($0) }) }
        jobs.withLock { running in
            running[slot]?.cancel()
            running[slot] = task
        }
    }

    public func cancel(_ slot: JobSlot) {
        jobs.withLock { running in
            running[slot]?.cancel()
            running[slot] = nil
        }
    }

    /// Cancels every job; what is returned can wait for them to end.
    @discardableResult
    public func cancelAll() -> CancelledJobs {
        jobs.withLock { running in
            defer { running.removeAll() }
            running.values.forEach { $0.cancel() }
            return CancelledJobs(tasks: Array(running.values))
        }
    }
}

/// Jobs that were cancelled and may still be finishing: a training run ends its step and writes its checkpoint, a
/// generation ends its denoising step.
public struct CancelledJobs: Sendable {
    let tasks: [Task<Void, Never>]

    /// Blocks the calling thread (never a task's) until every job has ended or `timeout` has passed; true when
    /// they all ended.
    public func waitForEnd(upTo timeout: Duration) -> Bool {
        let ended = DispatchSemaphore(value: 0)
        let tasks = self.tasks
        Task.detached {
            for task in tasks { await task.value }
            ended.signal()
        }
        let (seconds, attoseconds) = timeout.components
        return ended.wait(timeout: .now() + Double(seconds) + Double(attoseconds) * 1e-18) == .success
    }
}

/// Follows a training log as the trainer appends to it (like `tail -f`): reads what is there, then polls for
/// growth. A truncated or replaced file starts over.
public struct FollowTrainingLog: CoreJob {
    public let path: String
    public let generation: Int
    public let pollInterval: Duration
    /// Whether a missing file is reported (once) while it is waited for.
    public let reportMissing: Bool

    public init(path: String, generation: Int, pollInterval: Duration = .milliseconds(150), reportMissing: Bool = true) {
        self.path = path
        self.generation = generation
        self.pollInterval = pollInterval
        self.reportMissing = reportMissing
    }

    public func run(post: @escaping @Sendable (CoreEvent) -> Void) async {
        let send: @Sendable (TrainingLogEvent) -> Void = { post(.trainingLog(generation: generation, $0)) }
        var parser = TrainingLogParser()
        var offset: UInt64 = 0
        var fileIdentity: Int?
        var reportedMissing = false
        while !Task.isCancelled {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
               let size = (attributes[.size] as? NSNumber)?.uint64Value {
                let identity = (attributes[.systemFileNumber] as? NSNumber)?.intValue
                if identity != fileIdentity || size < offset {
                    parser = TrainingLogParser()
                    offset = 0
                    fileIdentity = identity
                    reportedMissing = false
                    send(.started(path: path))
                }
                if size > offset, let handle = FileHandle(forReadingAtPath: path) {
                    defer { try? handle.close() }
                    do {
                        try handle.seek(toOffset: offset)
                        let chunk = try handle.read(upToCount: Int(size - offset)) ?? Data()
                        offset += UInt64(chunk.count)
                        let batch = parser.consume(chunk)
                        if !batch.records.isEmpty || !batch.problems.isEmpty { send(.batch(batch)) }
                    } catch {
                        send(.failed("\(path): cannot read (\(error.localizedDescription))"))
                    }
                }
            } else if !reportedMissing {
                if reportMissing { send(.failed("\(path): no such file (waiting for it to appear)")) }
                reportedMissing = true
                fileIdentity = nil
            }
            try? await Task.sleep(for: pollInterval)
        }
    }
}
