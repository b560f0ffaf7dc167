import Foundation

/// A transformers `CLIPModel` config.json: the two towers' configs (`text_config`, `vision_config`) and the
/// width of the space both project into (`projection_dim`, which overrides the towers' own). The temperature is
/// not read here: the checkpoint's trained `logit_scale` is.
public struct CLIPModelConfiguration: Sendable, Equatable, Decodable {
    public var text: TextEncoderConfiguration
    public var vision: VisionEncoderConfiguration

    private enum Key: String, CodingKey { case text_config, vision_config, projection_dim }

    /// Both tower configs are required (every saved CLIPModel writes them); `projection_dim` defaults to 512.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let projectionDim = try c.decodeIfPresent(Int.self, forKey: .projection_dim) ?? 512
        // Both towers of a CLIPModel have their projection, into the shared space.
        text = try c.decode(TextEncoderConfiguration.self, forKey: .text_config)
        text.hasProjection = true
        text.projectionDim = projectionDim
        vision = try c.decode(VisionEncoderConfiguration.self, forKey: .vision_config)
        vision.hasProjection = true
        vision.projectionDim = projectionDim
    }

    /// Reads a transformers `CLIPModel` config.json.
    public static func load(from url: URL) throws -> CLIPModelConfiguration {
        try ConfigurationFile.decode(CLIPModelConfiguration.self, fromFileAt: url)
    }
}
