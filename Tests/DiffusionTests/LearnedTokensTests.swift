import Foundation
import Testing
@testable import Diffusion

/// Learned input vectors before a prompt's tokens (textual inversion's and UnlearnDiffAtk's space), on the tiny
/// SD1 pipeline of the parity tests.
@Suite struct LearnedTokensTests {
    static let models = Result {
        try PipelineModels.load(from: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/pipelines/sd1"))
    }

    /// The vectors of real words, given as learned ones, encode as the prompt that writes those words first.
    @Test func wordVectorsGivenAsLearnedTokensEncodeAsTheWordsThemselves() throws {
        let models = try Self.models.get()
        let words = models.tokenizer.tokens("a photo of").map(Int.init)
        let vectors = models.textEncoder.inputs(tokenIDs: [words]).reshaped([words.count, models.textEncoder.configuration.hiddenSize])
        for clipSkip in [nil, 1] {
            let learned = models.encode(prompt: "a red apple", prefixedWith: vectors, clipSkip: clipSkip).context.toArray()
            let written = models.encode(prompt: "a photo of a red apple", clipSkip: clipSkip).context.toArray()
            #expect(learned.count == written.count)
            #expect(zip(learned, written).map { abs($0 - $1) }.max()! <= 1e-5, "clip skip \(String(describing: clipSkip))")
        }
    }

    /// Reserved positions push the prompt's tail out of the 75 tokens, and the pooled position stays at the end of
    /// text.
    @Test func reservedPositionsShortenThePromptAndKeepTheEndOfText() throws {
        let tokenizer = try Self.models.get().tokenizer
        let prompt = Array(repeating: "apple", count: 80).joined(separator: " ")
        let count = tokenizer.tokens(prompt).count
        let plain = tokenizer.encode(prompt), reserved = tokenizer.encode(prompt, reserving: 5)
        #expect(count > 80 && plain.droppedTokenCount == count - 75 && reserved.droppedTokenCount == count - 70)
        #expect(Array(reserved.ids[1...5]) == Array(repeating: tokenizer.startOfTextID, count: 5))
        #expect(Array(reserved.ids[6..<76]) == Array(plain.ids[1..<71]))
        #expect(reserved.eosPosition == 76 && reserved.ids[76] == tokenizer.endOfTextID)
        #expect(tokenizer.encode("a red apple", reserving: 0) == tokenizer.encode("a red apple"))
    }

    /// The conditioning's gradient with respect to the learned vectors, through the whole text encoder, against
    /// finite differences.
    @Test func gradientsReachTheLearnedVectors() throws {
        let models = try Self.models.get()
        let width = models.textEncoder.configuration.hiddenSize
        GradientCheckTests.check([GradientCheckTests.random([3, width], seed: 4, in: -0.1...0.1)],
                                 step: 1e-2, tolerance: 2e-2) { inputs in
            models.encode(prompt: "a red apple", prefixedWith: inputs[0]).context.narrowed(axis: 1, start: 0, length: 8)
        }
    }
}
