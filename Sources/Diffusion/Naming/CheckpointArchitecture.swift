/// The UNet/text-encoder layouts the engine loads. Pony and Illustrious are SDXL checkpoints: their tensors
/// cannot be told apart from SDXL's, only their prompts differ.
public enum CheckpointArchitecture: String, Sendable, CaseIterable {
    case sd1, sd2, sdxl

    /// The bundled diffusers configs used for a single file of this architecture.
    public var bundledConfigName: String {
        switch self {
        case .sd1: return "sd15"
        case .sd2: return "sd21"
        case .sdxl: return "sdxl"
        }
    }

    /// Detects a single-file checkpoint's architecture from its tensor names, by the marker keys the
    /// ecosystem's loaders use (FORMATS.md). Nil when it is no Stable Diffusion checkpoint we know (a LoRA, a
    /// bare VAE, another model family).
    public static func detect(singleFileKeys keys: Set<String>) -> CheckpointArchitecture? {
        if keys.contains("conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias") { return .sdxl }
        guard keys.contains("model.diffusion_model.output_blocks.11.0.skip_connection.weight") else { return nil }
        // SD2.x swapped OpenAI's CLIP (stored in Hugging Face naming) for OpenCLIP ViT-H.
        return keys.contains("cond_stage_model.model.token_embedding.weight") ? .sd2 : .sd1
    }

    /// The layout a pair of diffusers configs describes: SDXL's UNet takes the `text_time` added conditioning,
    /// SD2.x's text encoder is OpenCLIP's (GELU), SD1.x's OpenAI's (quick GELU).
    public init(unet: UNetConfiguration, textEncoder: TextEncoderConfiguration) {
        self = unet.textTimeEmbedding != nil ? .sdxl : (textEncoder.activation == .gelu ? .sd2 : .sd1)
    }

    /// How the noise prediction is parameterised, from marker tensors some single files carry (`v_pred`, as
    /// ComfyUI reads them). Nil when the file does not say; SD2.x files usually don't, and 768-px SD2 models are
    /// v-prediction while 512-px ones are ε-prediction, so the user must be able to say so.
    public static func declaredPrediction(singleFileKeys keys: Set<String>) -> PredictionType? {
        keys.contains("v_pred") ? .vPrediction : nil
    }
}
