import Foundation

/// The one entry point for reading weights: every loader opens files through here, so pickles are refused in
/// one place. Weights are read from safetensors only; PyTorch pickles (`.ckpt`, `.pt`, `.pth`, `.bin`, or the
/// pickle/zip magic bytes under any name) can run arbitrary code when unpickled and are never opened as weights.
public enum WeightFile {
    /// File extensions of PyTorch pickle checkpoints.
    public static let pickleExtensions: Set<String> = ["ckpt", "pt", "pth", "bin"]

    /// Opens `url` as a safetensors file, after refusing pickles by name or content.
    public static func open(_ url: URL) throws -> SafetensorsFile {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw WeightsError.cannotRead(file: path, reason: "no such file")
        }
        if pickleExtensions.contains(url.pathExtension.lowercased()) {
            throw WeightsError.pickleRefused(file: path)
        }
        if let prefix = try? readPrefix(path: path, count: 16), isPickle(prefix: prefix) {
            throw WeightsError.pickleRefused(file: path)
        }
        return try SafetensorsFile(url: url)
    }

    /// Whether a file starting with `prefix` is a PyTorch checkpoint rather than safetensors.
    ///
    /// torch.save writes either a raw pickle (0x80, protocol 2–5) or, since PyTorch 1.6, a zip archive holding
    /// one ("PK\u{3}\u{4}"). A safetensors file may also begin with 0x80 0x02 (a header length of 640 + 65536k
    /// bytes), so a prefix that reads as a plausible safetensors start — the header opening with "{" — wins.
    public static func isPickle(prefix: [UInt8]) -> Bool {
        guard prefix.count >= 2 else { return false }
        if prefix.count > 8, prefix[8] == UInt8(ascii: "{") { return false }
        if prefix[0] == 0x80, (2...5).contains(prefix[1]) { return true }
        return prefix.starts(with: [0x50, 0x4B, 0x03, 0x04])
    }

    private static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        return Array(try handle.read(upToCount: count) ?? Data())
    }
}
