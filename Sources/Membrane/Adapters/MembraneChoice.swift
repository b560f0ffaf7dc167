import Foundation

/// A membrane chosen by the user: its file and strength (its gate when it is on), written `path` or
/// `path:weight` on command lines.
public struct MembraneChoice: Sendable, Equatable {
    public var path: String
    public var weight: Float

    public init(path: String, weight: Float = 1) {
        self.path = path
        self.weight = weight
    }

    /// "membrane.safetensors" (weight 1) or "membrane.safetensors:0.8".
    public init(parsing text: String) throws {
        if let colon = text.lastIndex(of: ":"), let weight = Float(text[text.index(after: colon)...]) {
            guard weight.isFinite else { throw MembraneChoiceError(text: text) }
            self.init(path: String(text[..<colon]), weight: weight)
        } else {
            self.init(path: text)
        }
    }

    /// The file's name without extension, as screens and infotext show it.
    public var name: String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
}

public struct MembraneChoiceError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "--membrane \(text): the weight after ':' must be a finite number" }
}
