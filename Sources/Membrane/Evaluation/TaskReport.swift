import Foundation

/// An evaluation task's result, printed as a table or as JSON (`evaluate --json`).
public protocol TaskReport: Encodable {
    var table: String { get }
}

extension TaskReport {
    /// The report as pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
