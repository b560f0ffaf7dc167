import Diffusion

/// A prompt or an erased concept as facilitated transport compares them: the text embedding the UNet's
/// cross-attention sees, and its tokens.
public struct TransportText: Sendable, Equatable {
    /// [positions, width], row-major: the 77 positions of the conditioning (BOS, the text's tokens, EOS, padding).
    public var embedding: [Float]
    public var width: Int
    /// Positions holding the text's own tokens (not BOS, EOS, padding or a special token typed in the text).
    public var contentPositions: [Int]
    /// The token ids at `contentPositions`.
    public var contentTokens: [Int32]

    public init(embedding: [Float], width: Int, contentPositions: [Int], contentTokens: [Int32]) {
        precondition(width > 0 && embedding.count % width == 0 && contentPositions.count == contentTokens.count
                     && contentPositions.allSatisfy { ($0 + 1) * width <= embedding.count },
                     "TransportText: \(embedding.count) values of width \(width), \(contentPositions.count) positions")
        self.embedding = embedding
        self.width = width
        self.contentPositions = contentPositions
        self.contentTokens = contentTokens
    }

    /// The embedding at one position.
    func state(at position: Int) -> ArraySlice<Float> { embedding[(position * width)..<((position + 1) * width)] }
}

extension PipelineModels {
    /// `text` as transport compares it: the conditioning the generation itself uses (SDXL: both encoders' states
    /// side by side) and the first tokenizer's ids. The special ids are the tokenizer's BOS, EOS and pad token,
    /// as the reference removes `tokenizer.special_tokens_map`.
    public func transportText(_ text: String, clipSkip: Int? = nil) -> TransportText {
        let context = encode(prompt: text, clipSkip: clipSkip).context
        let ids = tokenizer.encode(text).ids
        let special: Set<Int32> = [tokenizer.startOfTextID, tokenizer.endOfTextID, tokenizer.padID]
        let kept = min(tokenizer.tokens(text).count, CLIPTokenizer.contextLength - 2)
        let positions = (1..<(1 + kept)).filter { !special.contains(ids[$0]) }
        return TransportText(embedding: context.contiguous().toArray(), width: context.shape[2],
                             contentPositions: positions, contentTokens: positions.map { ids[$0] })
    }
}
