import Foundation

#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Every file the workbench writes goes through here: written to a temporary file in the same folder, flushed
/// to disk, then renamed over the target, so no reader — and no crash — ever sees half a file.
public enum AtomicFile {
    /// Runs `body` on a new temporary file next to `path`, then fsyncs it and renames it to `path`, and fsyncs
    /// the directory so the rename itself survives a crash. Any failure removes the temporary file.
    public static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var template = Array((directory + "/." + url.lastPathComponent + ".tmp-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw WeightsError.writeFailed(file: path, reason: "cannot create a temporary file in \(directory): " + String(cString: strerror(errno)))
        }
        let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var descriptorOpen = true
        do {
            // mkstemp creates 0600; finished weights are ordinary readable files.
            _ = fchmod(descriptor, 0o644)
            try body(descriptor)
            guard fsync(descriptor) == 0 else { throw WeightsError.writeFailed(file: path, reason: "fsync: " + String(cString: strerror(errno))) }
            descriptorOpen = false
            guard close(descriptor) == 0 else { throw WeightsError.writeFailed(file: path, reason: "close: " + String(cString: strerror(errno))) }
            guard rename(temporaryPath, path) == 0 else {
                throw WeightsError.writeFailed(file: path, reason: "rename: " + String(cString: strerror(errno)))
            }
        } catch {
            if descriptorOpen { close(descriptor) }
            unlink(temporaryPath)
            throw error
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Writes every byte of `buffer`, retrying partial writes and interruptions.
    public static func writeAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32, path: String) throws {
        var written = 0
        while written < buffer.count {
            let result = systemWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw WeightsError.writeFailed(file: path, reason: String(cString: strerror(errno)))
            }
            written += result
        }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: some ContiguousBytes, to path: String) throws {
        try write(to: path) { descriptor in
            try bytes.withUnsafeBytes { try writeAll($0, to: descriptor, path: path) }
        }
    }
}
