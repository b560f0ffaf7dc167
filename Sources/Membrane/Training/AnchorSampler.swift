import Diffusion

/// Surrogate concepts for latent anchoring (METHOD.md §2): text conditionings whose predictions the membrane
/// must leave where the frozen model had them.
public enum AnchorSampler: Sendable {
    /// The reference's intent, without its bugs: Gaussian vectors of the embedding's full shape, each scaled to
    /// ‖target‖·U(0.8, 1.2) (the reference's acceptance test passes ~always in 59k dimensions, so none is
    /// applied), and every anchor kept (the reference dropped half of them).
    case isotropic
    /// Real prompts, encoded once — one to three whole words from the CLIP vocabulary (`vocabulary(models:…)`),
    /// or the config's `anchor_prompts`; each step draws from the pool with probability ∝ 1 − cos(target,
    /// anchor), so anchors are denser far from the target, as the method intends.
    case prompts(pool: [PromptConditioning])

    /// Words per pool prompt are drawn from 1…3; the pool size trades start-up time for variety.
    public static let vocabularyPoolSize = 64

    /// A vocabulary pool drawn with `seed` and encoded by `models` (the frozen text encoders).
    public static func vocabulary(models: PipelineModels, seed: UInt64, clipSkip: Int?) -> AnchorSampler {
        let words = models.tokenizer.wholeWords
        guard !words.isEmpty else { return .isotropic }
        var random = TrainingRandom(seed: seed, step: 0, stream: 0xA4C0)
        let pool = (0..<vocabularyPoolSize).map { _ in
            let count = Int(random.next() % 3) + 1
            let prompt = (0..<count).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: " ")
            return models.encode(prompt: prompt, clipSkip: clipSkip)
        }
        return .prompts(pool: pool)
    }

    /// `count` anchors for `target`, drawn with `random`.
    public func anchors(count: Int, target: PromptConditioning, random: inout TrainingRandom) -> [PromptConditioning] {
        switch self {
        case .isotropic:
            return (0..<count).map { _ in
                let scale = 0.8 + 0.4 * random.unit()
                func draw(like reference: Tensor) -> Tensor {
                    let noise = random.gaussian(reference.shape)
                    return noise * (norm(reference) * scale / max(norm(noise), 1e-12))
                }
                return PromptConditioning(context: draw(like: target.context), pooled: target.pooled.map(draw(like:)))
            }
        case .prompts(let pool):
            let weights = pool.map { max(1 - cosine($0.context, target.context), 1e-3) }
            let total = weights.reduce(0, +)
            return (0..<count).map { _ in
                var remaining = random.unit() * total
                for (index, weight) in weights.enumerated() {
                    remaining -= weight
                    if remaining < 0 { return pool[index] }
                }
                return pool[pool.count - 1]
            }
        }
    }

    private func norm(_ tensor: Tensor) -> Float {
        tensor.withUnsafeBufferPointer { values in values.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    }

    private func cosine(_ first: Tensor, _ second: Tensor) -> Float {
        let dot = (first * second).sum().scalarValue
        return dot / max(norm(first) * norm(second), 1e-12)
    }
}
