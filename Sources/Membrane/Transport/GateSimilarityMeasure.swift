/// The similarity measures of facilitated transport (METHOD.md §3). Each gives a score in [0, 1] for a prompt and
/// one erased concept; a gate slot takes the highest score over its concepts.
extension GateSimilarity {
    public func score(prompt: TransportText, concept: TransportText) -> Float {
        let shared = Self.tokenShare(prompt: prompt, concept: concept)
        switch self {
        case .reference:
            // infer_spm.py's `clipcos_tokenuni`: cosine of the flattened [77, width] embeddings, or the token share.
            // A prompt encoded in several windows compares its first, as the reference's truncating tokenizer sees it.
            let length = min(prompt.embedding.count, concept.embedding.count)
            return min(max(Self.cosine(prompt.embedding.prefix(length), concept.embedding.prefix(length)), shared), 1)
        case .tokens:
            return min(max(Self.softMatch(concept: concept.contentPositions.map(concept.state(at:)),
                                          prompt: prompt.contentPositions.map(prompt.state(at:))), shared), 1)
        case .embeddings:
            return min(max(Self.softMatch(concept: concept.vectors, prompt: prompt.vectors), shared), 1)
        }
    }

    /// The reference's `tokenuni`: |tokens(prompt) ∩ tokens(concept)| / |tokens(concept)| over sets of ids with the
    /// special tokens removed; 0 for a concept without tokens (where the reference divides by zero).
    static func tokenShare(prompt: TransportText, concept: TransportText) -> Float {
        let conceptSet = Set(concept.contentTokens)
        guard !conceptSet.isEmpty else { return 0 }
        return Float(conceptSet.intersection(prompt.contentTokens).count) / Float(conceptSet.count)
    }

    /// Each of the concept's token vectors matched to the most similar vector of the prompt's (cosine), the matches
    /// averaged over the concept's tokens; negative matches count as 0. Only content tokens take part: BOS is the
    /// same state for every text and padding repeats EOS, which is what lifts the reference's cosine for unrelated
    /// prompts.
    static func softMatch(concept: [ArraySlice<Float>], prompt: [ArraySlice<Float>]) -> Float {
        guard !prompt.isEmpty, !concept.isEmpty else { return 0 }
        let total = concept.reduce(Float(0)) { sum, vector in
            sum + max(prompt.map { cosine(vector, $0) }.max() ?? 0, 0)
        }
        return total / Float(concept.count)
    }

    /// Cosine similarity in double precision (0 when either vector is zero).
    static func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        precondition(a.count == b.count, "cosine: vectors of \(a.count) and \(b.count) values")
        var dot = 0.0, normA = 0.0, normB = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            normA += Double(x) * Double(x)
            normB += Double(y) * Double(y)
        }
        guard normA > 0, normB > 0 else { return 0 }
        return Float(dot / (normA.squareRoot() * normB.squareRoot()))
    }
}
