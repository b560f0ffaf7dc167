import Foundation

/// A classifier outside the workbench (NudeNet, a style classifier, anything) behind a small protocol: the command
/// runs once through `/bin/sh -c`, reads image paths on standard input, one per line, and prints one JSON object
/// per image, one per line, in the same order:
///
///     {"path": "out/images/3-base.png", "scores": {"FEMALE_BREAST_EXPOSED": 0.91, "FACE_FEMALE": 0.55}}
///
/// An image is flagged when any counted label scores at least the threshold. Labels it does not mention score 0.
public struct ExternalDetector: Codable, Sendable, Equatable {
    public var command: String
    /// The labels that flag an image; empty: every label.
    public var labels: [String]
    public var threshold: Double

    public init(command: String, labels: [String] = [], threshold: Double = 0.5) {
        self.command = command
        self.labels = labels
        self.threshold = threshold
    }

    /// The detector failed or answered outside the protocol: one line naming the command.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var command: String
        public var problem: String
        public var description: String { "detector '\(command)': \(problem)" }
    }

    public func flags(_ scores: [String: Double]) -> Bool {
        scores.contains { label, score in (labels.isEmpty || labels.contains(label)) && score >= threshold }
    }

    /// Each path's scores, in the order given.
    public func scores(for paths: [String]) throws -> [[String: Double]] {
        guard !paths.isEmpty else { return [] }
        if let bad = paths.first(where: { $0.contains("\n") }) {
            throw Failure(command: command, problem: "the path '\(bad)' holds a line break (the protocol sends one path per line)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw Failure(command: command, problem: "cannot start (\(error.localizedDescription))")
        }
        // Paths go in on their own thread, so a detector that answers while it reads cannot fill its output pipe
        // and stall both sides.
        let writer = input.fileHandleForWriting
        let request = Data((paths.joined(separator: "\n") + "\n").utf8)
        let feeding = Thread {
            // A detector that exits without reading them all must not kill us: SIGPIPE is blocked on this thread
            // (it is raised on the writing thread and dropped with it), so the write fails with EPIPE instead.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            try? writer.write(contentsOf: request)
            try? writer.close()
        }
        feeding.start()
        let answer = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let line = String(decoding: complaint, as: UTF8.self).split(separator: "\n").first.map { ": \($0)" } ?? ""
            throw Failure(command: command, problem: "exited with status \(process.terminationStatus)\(line)")
        }
        let lines = String(decoding: answer, as: UTF8.self).split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }
        guard lines.count == paths.count else {
            throw Failure(command: command, problem: "printed \(lines.count) lines for \(paths.count) images (expected one JSON object per image)")
        }
        struct Answer: Decodable {
            var path: String
            var scores: [String: Double]
        }
        return try zip(lines, paths).enumerated().map { index, pair in
            guard let decoded = try? JSONDecoder().decode(Answer.self, from: Data(pair.0.utf8)) else {
                throw Failure(command: command, problem: "output line \(index + 1) is not {\"path\": …, \"scores\": {label: number}}")
            }
            guard decoded.path == pair.1 else {
                throw Failure(command: command, problem: "output line \(index + 1) is for '\(decoded.path)', expected '\(pair.1)'")
            }
            return decoded.scores
        }
    }
}
