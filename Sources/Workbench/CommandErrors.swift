import ArgumentParser
import Foundation

/// Every headless command reports a failure the same way: one line on stderr naming the file or field, exit
/// status 1, no stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
