import Foundation

/// Errors reading a tokenizer vocabulary. Each description is one line naming the file and what was expected.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case unreadable(file: String, reason: String)
    case badEntry(file: String, line: Int, expected: String)
    case unknownToken(file: String, key: String, token: String)

    public var description: String {
        switch self {
        case .missingFile(let file):
            return "\(file): file not found"
        case .unreadable(let file, let reason):
            return "\(file): \(reason)"
        case .badEntry(let file, let line, let expected):
            return "\(file):\(line): expected \(expected)"
        case .unknownToken(let file, let key, let token):
            return "\(file): \(key) \"\(token)\" is not in the vocabulary"
        }
    }
}

/// CLIP's byte-level BPE vocabulary: token strings (in GPT-2's byte-to-unicode alphabet) to ids, and the merge
/// list in rank order.
struct CLIPVocabulary {
    static let startOfText = "<|startoftext|>"
    static let endOfText = "<|endoftext|>"
    static let endOfWord = "</w>"
    /// OpenAI's SimpleTokenizer keeps the first 49152 − 256 − 2 merges of the BPE file.
    static let openAIMergeCount = 49_152 - 256 - 2

    var ids: [String: Int32]
    var merges: [(String, String)]

    /// GPT-2's reversible byte → printable character table: printable Latin-1 bytes map to themselves, the
    /// others to U+0100 onwards, in byte order. The order of `byteAlphabetOrder` is the vocabulary's id order.
    static let byteAlphabetOrder: [(byte: UInt8, character: Character)] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var pairs = printable.map { (UInt8($0), Character(Unicode.Scalar(UInt8($0)))) }
        var extra = 0
        for byte in 0...255 where !printable.contains(byte) {
            pairs.append((UInt8(byte), Character(Unicode.Scalar(UInt32(256 + extra))!)))
            extra += 1
        }
        return pairs
    }()

    /// The bundled OpenAI vocabulary, built as `SimpleTokenizer` builds it: the 256 byte characters, the same
    /// with `</w>`, one token per merge, then the two specials (49,408 ids).
    static func bundled() throws -> CLIPVocabulary {
        let name = "bpe_simple_vocab_16e6.txt.gz"
        guard let url = Bundle.module.url(forResource: "bpe_simple_vocab_16e6.txt", withExtension: "gz",
                                          subdirectory: "Resources") else {
            throw TokenizerError.missingFile(name)
        }
        let compressed: Data
        do { compressed = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(file: name, reason: "cannot be read")
        }
        let text = try Gzip.decompress(compressed, name: name)
        // Line 0 is a version header; merges follow, one "left right" pair per line.
        let merges = try parseMerges(text, file: name, skipFirstLine: true, limit: openAIMergeCount)
        var tokens = byteAlphabetOrder.map { String($0.character) }
        tokens += tokens.map { $0 + endOfWord }
        tokens += merges.map { $0.0 + $0.1 }
        tokens += [startOfText, endOfText]
        var ids = [String: Int32](minimumCapacity: tokens.count)
        for (id, token) in tokens.enumerated() { ids[token] = Int32(id) }
        return CLIPVocabulary(ids: ids, merges: merges)
    }

    /// A diffusers/transformers tokenizer folder: `vocab.json` and `merges.txt`.
    static func load(folder: URL) throws -> CLIPVocabulary {
        let vocabURL = folder.appendingPathComponent("vocab.json")
        let mergesURL = folder.appendingPathComponent("merges.txt")
        let vocabData = try readFile(vocabURL)
        guard let object = try? JSONSerialization.jsonObject(with: vocabData),
              let table = object as? [String: Any] else {
            throw TokenizerError.unreadable(file: vocabURL.path, reason: "expected a JSON object of token → id")
        }
        var ids = [String: Int32](minimumCapacity: table.count)
        for (token, value) in table {
            guard let number = value as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0 else {
                throw TokenizerError.unreadable(file: vocabURL.path,
                                                reason: "token \"\(token)\" has a non-integer id")
            }
            ids[token] = id
        }
        let mergeBytes = [UInt8](try readFile(mergesURL))
        let merges = try parseMerges(mergeBytes, file: mergesURL.path, skipFirstLine: false, limit: nil)
        return CLIPVocabulary(ids: ids, merges: merges)
    }

    private static func readFile(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(url.path) }
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(file: url.path, reason: "cannot be read")
        }
    }

    /// Splits "left right" lines on raw bytes (fast: ~49k lines). Blank lines and a first-line `#version` header
    /// are skipped; any other line starting with "#" is a merge of "#" characters.
    private static func parseMerges(_ bytes: [UInt8], file: String, skipFirstLine: Bool, limit: Int?) throws
        -> [(String, String)] {
        var merges = [(String, String)]()
        merges.reserveCapacity(limit ?? 50_000)
        var lineStart = 0
        var lineNumber = 0
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " "), carriageReturn = UInt8(ascii: "\r")
        while lineStart < bytes.count {
            if let limit, merges.count == limit { break }
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != newline { lineEnd += 1 }
            lineNumber += 1
            defer { lineStart = lineEnd + 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart && bytes[contentEnd - 1] == carriageReturn { contentEnd -= 1 }
            if lineNumber == 1 && (skipFirstLine || bytes[lineStart..<contentEnd].starts(with: Array("#version".utf8))) {
                continue
            }
            if contentEnd == lineStart { continue }
            guard let split = bytes[lineStart..<contentEnd].firstIndex(of: space),
                  split > lineStart, split + 1 < contentEnd,
                  !bytes[(split + 1)..<contentEnd].contains(space) else {
                throw TokenizerError.badEntry(file: file, line: lineNumber, expected: "two tokens separated by a space")
            }
            let left = String(decoding: bytes[lineStart..<split], as: UTF8.self)
            let right = String(decoding: bytes[(split + 1)..<contentEnd], as: UTF8.self)
            merges.append((left, right))
        }
        return merges
    }
}
