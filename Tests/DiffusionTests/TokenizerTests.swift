import Foundation
import Testing
@testable import Diffusion

private struct TokenizerGolden: Decodable {
    struct Case: Decodable {
        let prompt: String
        let tokens: [Int32]
        let ids_pad_eos: [Int32]
        let mask_pad_eos: [Int32]
        let ids_pad_bang: [Int32]
        let mask_pad_bang: [Int32]
    }
    let vocab_size: Int
    let cases: [Case]
}

private struct TinyGolden: Decodable {
    struct Case: Decodable {
        let prompt: String
        let ids: [Int32]
    }
    let vocab_size: Int
    let cases: [Case]
}

@Suite("CLIP tokenizer matches transformers' CLIPTokenizer")
struct TokenizerTests {
    private static let golden = Result { try Goldens.load(TokenizerGolden.self, from: "tokenizer.json") }

    @Test("bundled vocabulary, padded with <|endoftext|> (SD1.x)")
    func padWithEndOfText() throws {
        let golden = try Self.golden.get()
        let tokenizer = try CLIPTokenizer(bundledWithPadToken: "<|endoftext|>")
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.startOfTextID == 49406 && tokenizer.endOfTextID == 49407 && tokenizer.padID == 49407)
        for entry in golden.cases {
            #expect(tokenizer.tokens(entry.prompt) == entry.tokens, "tokens of \(entry.prompt.debugDescription)")
            let encoded = tokenizer.encode(entry.prompt)
            #expect(encoded.ids == entry.ids_pad_eos, "ids of \(entry.prompt.debugDescription)")
            #expect(encoded.attentionMask == entry.mask_pad_eos, "mask of \(entry.prompt.debugDescription)")
        }
    }

    @Test("bundled vocabulary, padded with ! (SDXL's second encoder, SD2)")
    func padWithExclamation() throws {
        let golden = try Self.golden.get()
        let tokenizer = try CLIPTokenizer(bundledWithPadToken: "!")
        #expect(tokenizer.padID == 0)
        for entry in golden.cases {
            let encoded = tokenizer.encode(entry.prompt)
            #expect(encoded.ids == entry.ids_pad_bang, "ids of \(entry.prompt.debugDescription)")
            #expect(encoded.attentionMask == entry.mask_pad_bang, "mask of \(entry.prompt.debugDescription)")
        }
    }

    @Test("EOS position is the argmax of the ids; truncation is counted")
    func eosPositionAndTruncation() throws {
        let tokenizer = try CLIPTokenizer(bundledWithPadToken: "!")
        let short = tokenizer.encode("a photo of a cat")
        #expect(short.eosPosition == 6)
        #expect(short.ids[short.eosPosition] == tokenizer.endOfTextID)
        #expect(short.droppedTokenCount == 0)
        let long = tokenizer.encode(Array(repeating: "photograph", count: 80).joined(separator: " "))
        #expect(long.eosPosition == 76)
        #expect(long.droppedTokenCount == 5)
        let empty = tokenizer.encode("")
        #expect(empty.eosPosition == 1 && empty.ids[0] == 49406 && empty.ids[2] == 0)
    }

    @Test("long prompts in 75-token windows: nothing dropped, each window framed as encode frames a prompt")
    func chunkedWindows() throws {
        let tokenizer = try CLIPTokenizer(bundledWithPadToken: "<|endoftext|>")
        let text = Array(repeating: "photograph", count: 80).joined(separator: " ")
        let windows = tokenizer.encodeChunks(text)
        #expect(windows.count == 2)
        #expect(windows[0] == CLIPTokenization(ids: tokenizer.encode(text).ids, attentionMask: tokenizer.encode(text).attentionMask,
                                               eosPosition: 76, droppedTokenCount: 0))
        // The rest: the five words past the first window, as if they were the whole prompt.
        #expect(windows[1] == tokenizer.encode(Array(repeating: "photograph", count: 5).joined(separator: " ")))
        #expect(tokenizer.encodeChunks("a photo of a cat") == [tokenizer.encode("a photo of a cat")])
        #expect(tokenizer.encodeChunks("") == [tokenizer.encode("")])
        // Exactly 150 tokens fill two windows, 151 need a third.
        #expect(tokenizer.encodeChunks(Array(repeating: "photograph", count: 150).joined(separator: " ")).count == 2)
        #expect(tokenizer.encodeChunks(Array(repeating: "photograph", count: 151).joined(separator: " ")).count == 3)
    }

    @Test("tokenizer folder: vocab.json, merges.txt and the pad token from tokenizer_config.json")
    func folder() throws {
        let folder = Goldens.directory.appendingPathComponent("tiny_tokenizer")
        let golden = try Goldens.load(TinyGolden.self, from: "tiny_tokenizer_cases.json")
        let tokenizer = try CLIPTokenizer(folder: folder)
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.padID == 0)
        for entry in golden.cases {
            #expect(tokenizer.encode(entry.prompt).ids == entry.ids, "ids of \(entry.prompt)")
        }
        // A model folder without vocab.json falls back to the bundled vocabulary but keeps its pad token.
        let configOnly = FileManager.default.temporaryDirectory.appendingPathComponent("clip-config-\(UUID())")
        try FileManager.default.createDirectory(at: configOnly, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: configOnly) }
        try Data(#"{"pad_token": {"content": "!", "lstrip": false}}"#.utf8)
            .write(to: configOnly.appendingPathComponent("tokenizer_config.json"))
        let fallback = try CLIPTokenizer.load(folder: configOnly)
        #expect(fallback.vocabularySize == 49408 && fallback.padID == 0)
    }

    @Test("bad folders give one-line errors naming the file")
    func errors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-bad-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: TokenizerError.missingFile(folder.appendingPathComponent("vocab.json").path)) {
            try CLIPTokenizer(folder: folder)
        }
        try Data(#"{"a": 0, "b": 1}"#.utf8).write(to: folder.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\na b\nonlyone\n".utf8).write(to: folder.appendingPathComponent("merges.txt"))
        do {
            _ = try CLIPTokenizer(folder: folder)
            Issue.record("a malformed merges.txt was accepted")
        } catch let error as TokenizerError {
            #expect(error.description.hasSuffix("merges.txt:3: expected two tokens separated by a space"))
            #expect(!error.description.contains("\n"))
        }
        try Data("#version: 0.2\na b\n".utf8).write(to: folder.appendingPathComponent("merges.txt"))
        #expect(throws: TokenizerError.unknownToken(file: folder.path, key: "bos_token", token: "<|startoftext|>")) {
            try CLIPTokenizer(folder: folder)
        }
    }
}
