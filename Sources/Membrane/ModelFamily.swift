/// The base-model families a membrane can belong to. Pony and Illustrious are SDXL underneath; they differ
/// in prompt conventions, not in weights' layout, so they keep their own name for configs and metadata.
public enum ModelFamily: String, CaseIterable, Codable, Sendable {
    case sd1, sd2, sdxl, pony, illustrious, testbed

    /// Whether the UNet is SDXL-shaped (two text encoders, pooled embedding, time ids).
    public var isSDXLArchitecture: Bool {
        switch self {
        case .sdxl, .pony, .illustrious: return true
        case .sd1, .sd2, .testbed: return false
        }
    }

    /// kohya's `ss_base_model_version`. A1111 hides SDXL LoRAs on SDXL models without `sdxl_base_v1-0`.
    /// The testbed is SD1-shaped, so tools that meet it see an SD1 LoRA.
    public var kohyaBaseModelVersion: String {
        switch self {
        case .sd1, .testbed: return "sd_v1"
        case .sd2: return "sd_v2"
        case .sdxl, .pony, .illustrious: return "sdxl_base_v1-0"
        }
    }
}
