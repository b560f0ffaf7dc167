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
    /// The text encoder's vocabulary vector of each content token, [contentTokens.count, vectorWidth] row-major;
    /// empty when not computed (the `embeddings` measure then scores only the token share).
    public var contentVectors: [Float]
    public var vectorWidth: Int

    public init(embedding: [Float], width: Int, contentPositions: [Int], contentTokens: [Int32],
                contentVectors: [Float] = [], vectorWidth: Int = 0) {
        precondition(width > 0 && embedding.count % width == 0 && contentPositions.count == contentTokens.count
                     && contentPositions.allSatisfy { ($0 + 1) * width <= embedding.count },
                     "TransportText: \(embedding.count) values of width \(width), \(contentPositions.count) positions")
        precondition(contentVectors.isEmpty || contentVectors.count == contentTokens.count * vectorWidth,
                     "TransportText: \(contentVectors.count) vector values for \(contentTokens.count) tokens of width \(vectorWidth)")
        self.embedding = embedding
        self.width = width
        self.contentPositions = contentPositions
        self.contentTokens = contentTokens
        self.contentVectors = contentVectors
        self.vectorWidth = vectorWidth
    }

    /// The embedding at one position.
    func state(at position: Int) -> ArraySlice<Float> { embedding[(position * width)..<((position + 1) * width)] }

    /// The content tokens' vocabulary vectors, one slice each (none when not computed).
    var vectors: [ArraySlice<Float>] {
        guard vectorWidth > 0 else { return [] }
        return (0..<(contentVectors.count / vectorWidth)).map { contentVectors[($0 * vectorWidth)..<(($0 + 1) * vectorWidth)] }
    }
}

extension PipelineModels {
    /// `text` as transport compares it: the conditioning the generation itself uses (SDXL: both encoders' states
    /// side by side; with `.chunk`, every 75-token window, so a word past the first window is seen as the model
    /// sees it), the first tokenizer's ids and the first text encoder's vocabulary vectors for them. The
    /// special ids are the tokenizer's BOS, EOS and pad token, as the reference removes
    /// `tokenizer.special_tokens_map`.
    public func transportText(_ text: String, clipSkip: Int? = nil, longPrompts: LongPromptHandling = .truncate) -> TransportText {
        let context = encode(prompt: text, clipSkip: clipSkip, longPrompts: longPrompts).context
        let windows = longPrompts == .chunk ? tokenizer.encodeChunks(text) : [tokenizer.encode(text)]
        let ids = windows.flatMap(\.ids)
        let special: Set<Int32> = [tokenizer.startOfTextID, tokenizer.endOfTextID, tokenizer.padID]
        let kept = min(tokenizer.tokens(text).count, windows.count * CLIPTokenizer.chunkLength)
        // Token i sits in window i / 75, after that window's BOS.
        let positions = (0..<kept).map { i in (i / CLIPTokenizer.chunkLength) * CLIPTokenizer.contextLength + 1 + i % CLIPTokenizer.chunkLength }
            .filter { !special.contains(ids[$0]) }
        let tokens = positions.map { ids[$0] }
        let vectors = textEncoder.tokenEmbedding(tokens.map(Int.init), shape: [tokens.count])
        return TransportText(embedding: context.contiguous().toArray(), width: context.shape[2],
                             contentPositions: positions, contentTokens: tokens,
                             contentVectors: tokens.isEmpty ? [] : vectors.toArray(),
                             vectorWidth: textEncoder.tokenEmbedding.weight.shape[1])
    }
}
