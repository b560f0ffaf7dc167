import Diffusion

extension CLIPModel: ImageTextEmbedding {
    /// Images go through the vision tower this many at a time, so a task of thousands of images stays in memory.
    static let embeddingBatch = 16

    public func embed(images: [RGBImage]) -> [[Float]] {
        stride(from: 0, to: images.count, by: Self.embeddingBatch).flatMap { start in
            Self.rows(imageEmbeddings(Array(images[start..<min(start + Self.embeddingBatch, images.count)])))
        }
    }

    public func embed(texts: [String]) -> [[Float]] {
        stride(from: 0, to: texts.count, by: Self.embeddingBatch).flatMap { start in
            Self.rows(textEmbeddings(Array(texts[start..<min(start + Self.embeddingBatch, texts.count)])))
        }
    }

    private static func rows(_ embeddings: Tensor) -> [[Float]] {
        let values = embeddings.contiguous().toArray(), width = embeddings.shape[1]
        return (0..<embeddings.shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
    }
}
