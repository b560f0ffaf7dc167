import Foundation
import Testing

/// Runs the built `spm-workbench` binary, which `swift test` builds next to the test bundle.
struct WorkbenchRun {
    let status: Int32
    let standardOutput: String
    let standardError: String

    static var executable: URL {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let besideBundle = bundleDirectory.appendingPathComponent("spm-workbench")
        if FileManager.default.isExecutableFile(atPath: besideBundle.path) { return besideBundle }
        return repositoryRoot.appendingPathComponent(".build/debug/spm-workbench")
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)  // Tests/WorkbenchTests/Support/WorkbenchRun.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var fixtures: URL { repositoryRoot.appendingPathComponent("Tests/Fixtures") }

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = WorkbenchRun.executable
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read both pipes before waiting, so a large output cannot fill a pipe and stall the child.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        status = process.terminationStatus
        standardOutput = String(decoding: outputData, as: UTF8.self)
        standardError = String(decoding: errorData, as: UTF8.self)
    }

    /// stdout parsed with Foundation's JSON reader (independent of our own JSON code).
    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8))
        return try #require(object as? [String: Any])
    }
}
