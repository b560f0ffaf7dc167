import Foundation
import Synchronization

/// One prompt encoded for a CLIP text encoder.
public struct CLIPTokenization: Sendable, Equatable {
    /// `contextLength` ids: BOS, at most 75 tokens, EOS, then the pad id.
    public let ids: [Int32]
    /// 1 for BOS … EOS, 0 for padding (what transformers returns as `attention_mask`).
    public let attentionMask: [Int32]
    /// Where the pooled output is read: the first EOS (argmax of the ids, as SD1.x/SDXL's CLIP does).
    public let eosPosition: Int
    /// How many prompt tokens were cut to fit (0 when the prompt fits).
    public let droppedTokenCount: Int
}

/// CLIP's byte-level BPE tokenizer, giving the ids transformers' `CLIPTokenizer` gives (see `CLIPPreTokenizer`
/// for the text cleaning). Thread-safe; word encodings are cached.
public final class CLIPTokenizer: Sendable {
    public static let contextLength = 77

    public let startOfTextID: Int32
    public let endOfTextID: Int32
    /// SD1.x pads with `<|endoftext|>`; SDXL's second tokenizer and SD2's OpenCLIP pad with "!" (id 0).
    public let padID: Int32
    public let vocabularySize: Int
    /// Plain words the vocabulary holds as one token (three or more ASCII letters), sorted: material for
    /// prompts made of real words, e.g. the trainer's vocabulary anchors.
    public let wholeWords: [String]

    /// Id of each byte's character, and of the same character with `</w>` (a word's last symbol).
    private let byteIDs: [Int32]
    private let byteEndIDs: [Int32]
    /// (left id << 32 | right id) → (rank, merged id).
    private let merges: [UInt64: Merge]
    /// Special tokens cut out of raw text before anything else: BOS, EOS and the pad token.
    private let specialIDs: [String: Int32]
    private let cache = Mutex<[String: [Int32]]>([:])
    private static let cacheLimit = 50_000

    private struct Merge {
        let rank: Int32
        let merged: Int32
    }

    /// The bundled OpenAI CLIP vocabulary (the one every SD1.x/SD2.x/SDXL tokenizer folder carries).
    /// - Parameter padToken: `"<|endoftext|>"` for SD1.x, `"!"` for SDXL's second encoder and SD2.
    public convenience init(bundledWithPadToken padToken: String = "<|endoftext|>") throws {
        try self.init(vocabulary: .bundled(), padToken: padToken, source: "bundled vocabulary")
    }

    /// A diffusers `tokenizer/` (or `tokenizer_2/`) folder: `vocab.json`, `merges.txt`, and the pad token from
    /// `tokenizer_config.json` or `special_tokens_map.json` when either names one (else `<|endoftext|>`).
    public convenience init(folder: URL) throws {
        let padToken = try Self.configuredPadToken(folder: folder) ?? CLIPVocabulary.endOfText
        try self.init(vocabulary: .load(folder: folder), padToken: padToken, source: folder.path)
    }

    /// A model folder's tokenizer when it has one, else the bundled vocabulary with the folder's pad token
    /// (or `defaultPadToken` when the folder names none).
    public static func load(folder: URL?, defaultPadToken: String = "<|endoftext|>") throws -> CLIPTokenizer {
        if let folder, FileManager.default.fileExists(atPath: folder.appendingPathComponent("vocab.json").path) {
            return try CLIPTokenizer(folder: folder)
        }
        let padToken = try folder.flatMap { try configuredPadToken(folder: $0) } ?? defaultPadToken
        return try CLIPTokenizer(bundledWithPadToken: padToken)
    }

    private init(vocabulary: CLIPVocabulary, padToken: String, source: String) throws {
        func id(_ token: String, key: String) throws -> Int32 {
            guard let id = vocabulary.ids[token] else {
                throw TokenizerError.unknownToken(file: source, key: key, token: token)
            }
            return id
        }
        startOfTextID = try id(CLIPVocabulary.startOfText, key: "bos_token")
        endOfTextID = try id(CLIPVocabulary.endOfText, key: "eos_token")
        padID = try id(padToken, key: "pad_token")
        vocabularySize = vocabulary.ids.count
        wholeWords = vocabulary.ids.keys.compactMap { token -> String? in
            guard token.hasSuffix(CLIPVocabulary.endOfWord) else { return nil }
            let word = token.dropLast(CLIPVocabulary.endOfWord.count)
            return word.count >= 3 && word.allSatisfy({ $0.isASCII && $0.isLetter }) ? String(word) : nil
        }.sorted()
        specialIDs = Dictionary(
            [(CLIPVocabulary.startOfText, startOfTextID), (CLIPVocabulary.endOfText, endOfTextID), (padToken, padID)],
            uniquingKeysWith: { first, _ in first })
        var byteIDs = [Int32](repeating: 0, count: 256)
        var byteEndIDs = [Int32](repeating: 0, count: 256)
        for (byte, character) in CLIPVocabulary.byteAlphabetOrder {
            byteIDs[Int(byte)] = try id(String(character), key: "byte token")
            byteEndIDs[Int(byte)] = try id(String(character) + CLIPVocabulary.endOfWord, key: "byte token")
        }
        self.byteIDs = byteIDs
        self.byteEndIDs = byteEndIDs
        var table = [UInt64: Merge](minimumCapacity: vocabulary.merges.count)
        for (rank, (left, right)) in vocabulary.merges.enumerated() {
            // A merge whose parts or result are missing from the vocabulary can never apply; skip it.
            guard let leftID = vocabulary.ids[left], let rightID = vocabulary.ids[right],
                  let merged = vocabulary.ids[left + right] else { continue }
            let key = UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), merged: merged) }
        }
        merges = table
    }

    /// Reads `pad_token` (a string, or an AddedToken object with `content`) from the folder's configs.
    static func configuredPadToken(folder: URL) throws -> String? {
        for name in ["tokenizer_config.json", "special_tokens_map.json"] {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            guard let data = try? Data(contentsOf: url),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizerError.unreadable(file: url.path, reason: "expected a JSON object")
            }
            switch object["pad_token"] {
            case nil, is NSNull:
                continue
            case let token as String:
                return token
            case let added as [String: Any]:
                guard let content = added["content"] as? String else {
                    throw TokenizerError.unreadable(file: url.path, reason: "pad_token has no string \"content\"")
                }
                return content
            default:
                throw TokenizerError.unreadable(file: url.path, reason: "pad_token must be a string or an object")
            }
        }
        return nil
    }

    // MARK: Encoding

    /// The prompt's token ids without BOS, EOS, padding or truncation.
    public func tokens(_ text: String) -> [Int32] {
        var ids = [Int32]()
        for segment in CLIPPreTokenizer.segments(text, specialTokens: Array(specialIDs.keys)) {
            switch segment {
            case .special(let token):
                ids.append(specialIDs[token] ?? endOfTextID)
            case .text(let piece):
                for word in CLIPPreTokenizer.words(CLIPPreTokenizer.normalize(piece)) {
                    ids += encodeWord(word)
                }
            }
        }
        return ids
    }

    /// `tokenizer(text, padding="max_length", max_length=77, truncation=True)`.
    public func encode(_ text: String) -> CLIPTokenization { encode(text, reserving: 0) }

    /// `encode(text)` with `count` positions right after start-of-text held for input vectors that come from
    /// elsewhere (a textual-inversion embedding, an attack's learned tokens). They hold the start-of-text id, which
    /// is below end-of-text, so the pooled position stays the end of text; the prompt keeps the first 75 − `count`
    /// of its tokens.
    public func encode(_ text: String, reserving count: Int) -> CLIPTokenization {
        precondition((0..<Self.chunkLength).contains(count), "CLIPTokenizer: cannot reserve \(count) of \(Self.chunkLength) positions")
        let all = tokens(text)
        let kept = all.prefix(Self.chunkLength - count)
        return window(Array(repeating: startOfTextID, count: count) + kept, droppedTokenCount: all.count - kept.count)
    }

    /// Prompt tokens per `contextLength` window: all but BOS and EOS.
    public static let chunkLength = contextLength - 2

    /// The prompt in windows of `chunkLength` tokens, each framed and padded as `encode` frames one, nothing
    /// dropped: how AUTOMATIC1111 and ComfyUI encode prompts past 75 tokens (each window through the text
    /// encoder, the states concatenated). A prompt that fits gives one window, equal to `encode`'s.
    public func encodeChunks(_ text: String) -> [CLIPTokenization] {
        let all = tokens(text)
        return stride(from: 0, to: max(all.count, 1), by: Self.chunkLength).map { start in
            window(all[start..<min(start + Self.chunkLength, all.count)], droppedTokenCount: 0)
        }
    }

    private func window<Kept: Collection<Int32>>(_ kept: Kept, droppedTokenCount: Int) -> CLIPTokenization {
        var ids = [startOfTextID] + kept + [endOfTextID]
        let used = ids.count
        ids += Array(repeating: padID, count: Self.contextLength - used)
        let mask = (0..<Self.contextLength).map { Int32($0 < used ? 1 : 0) }
        let maximum = ids.max() ?? endOfTextID
        return CLIPTokenization(ids: ids, attentionMask: mask, eosPosition: ids.firstIndex(of: maximum) ?? used - 1,
                                droppedTokenCount: droppedTokenCount)
    }

    /// Byte-level BPE of one word: lowest-ranked adjacent pair first, every occurrence left to right, repeated.
    private func encodeWord(_ word: String) -> [Int32] {
        if let cached = cache.withLock({ $0[word] }) { return cached }
        let bytes = Array(word.utf8)
        var symbols = bytes.map { byteIDs[Int($0)] }
        symbols[symbols.count - 1] = byteEndIDs[Int(bytes[bytes.count - 1])]
        while symbols.count > 1 {
            var best: Merge?
            var bestPair: (Int32, Int32) = (0, 0)
            for i in 0..<(symbols.count - 1) {
                if let merge = merges[Self.pairKey(symbols[i], symbols[i + 1])], merge.rank < best?.rank ?? .max {
                    best = merge
                    bestPair = (symbols[i], symbols[i + 1])
                }
            }
            guard let best else { break }
            var merged = [Int32]()
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == bestPair.0 && symbols[i + 1] == bestPair.1 {
                    merged.append(best.merged)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        let result = symbols
        cache.withLock { cache in
            // Prompts reuse few words; the bound only keeps a long-running session from growing without end.
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[word] = result
        }
        return result
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
    }
}
