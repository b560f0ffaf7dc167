/// The one table between single-file checkpoints (LDM naming for SD1.x/SD2.x, SGM naming for the SDXL family —
/// what CivitAI serves) and diffusers' per-component names, which our module trees mirror.
///
/// Rules follow FORMATS.md: `down_blocks.i.attentions.j ↔ input_blocks.(1+3i+j).1`, `up_blocks.i.resnets.j ↔
/// output_blocks.(3i+j).0`, and so on. Inside a transformer block names are the same in both layouts. Mapping is
/// pure string work; the loader applies the transforms and reports keys that land nowhere.
public enum SingleFileKeyMap {
    /// A diffusers component of a pipeline.
    public enum Component: String, Sendable, CaseIterable {
        case unet, vae
        case textEncoder = "text_encoder"
        case textEncoder2 = "text_encoder_2"
    }

    /// How a single-file tensor becomes the diffusers tensor.
    public enum Transform: Sendable, Equatable {
        case identity
        /// A 1×1 convolution weight [out, in, 1, 1] stored for a linear layer [out, in] (the VAE's attention).
        case squeezeConv1x1
        /// Rows `part·n/count ..< (part+1)·n/count` of the first axis (OpenCLIP's fused q/k/v projection).
        case splitRows(part: Int, count: Int)
        /// OpenCLIP keeps `x @ P`; a linear layer keeps `Pᵀ`.
        case transpose
    }

    /// One diffusers tensor fed by a single-file tensor.
    public struct Target: Sendable, Equatable {
        public var component: Component
        public var key: String
        public var transform: Transform

        public init(_ component: Component, _ key: String, _ transform: Transform = .identity) {
            self.component = component
            self.key = key
            self.transform = transform
        }
    }

    /// What becomes of a single-file key.
    public enum Mapping: Sendable, Equatable {
        /// It feeds these diffusers tensors (several when a fused tensor is split).
        case tensors([Target])
        /// A known tensor the engine never loads (EMA copies, the LDM schedule buffers, CLIP's logit scale …).
        case ignored
        /// Nothing we know: the loader reports it as unused.
        case unknown
    }

    /// Where `key` of a single-file checkpoint goes. `vaeLevels` is the VAE's number of resolution levels
    /// (`block_out_channels.count`; 4 in every released SD VAE), needed because LDM numbers decoder levels
    /// from the bottom and diffusers from the top.
    public static func map(_ key: String, vaeLevels: Int = 4) -> Mapping {
        if let rest = key.dropPrefix("model.diffusion_model.") {
            return unetKey(fromSingleFile: rest).map { .tensors([Target(.unet, $0)]) } ?? .unknown
        }
        if let rest = key.dropPrefix("first_stage_model.") {
            return vae(rest, levels: vaeLevels)
        }
        if let rest = key.dropPrefix("cond_stage_model.transformer.") {
            return huggingFaceCLIP(rest, component: .textEncoder)
        }
        if let rest = key.dropPrefix("conditioner.embedders.0.transformer.") {
            return huggingFaceCLIP(rest, component: .textEncoder)
        }
        if let rest = key.dropPrefix("cond_stage_model.model.") {
            // SD2 conditions on OpenCLIP ViT-H's penultimate layer: diffusers' SD2 text encoder stops there, so
            // the last layer (23) and the projection of every SD2 file are dropped, as diffusers drops them
            // (SD_2_TEXT_ENCODER_KEYS_TO_IGNORE).
            if rest == "text_projection" || rest.hasPrefix("transformer.resblocks.23.") { return .ignored }
            return openCLIP(rest, component: .textEncoder)
        }
        if let rest = key.dropPrefix("conditioner.embedders.1.model.") {
            return openCLIP(rest, component: .textEncoder2)
        }
        let ignoredPrefixes = ["model_ema.", "alphas_cumprod", "alphas_cumprod_prev", "betas",
                               "log_one_minus_alphas_cumprod", "posterior_", "sqrt_alphas_cumprod",
                               "sqrt_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                               "sqrt_recipm1_alphas_cumprod",
                               // Empty marker tensors of v-prediction / zero-terminal-SNR SDXL models: they carry
                               // no weights; model detection reads them as flags.
                               "v_pred", "ztsnr", "edm_vpred."]
        return ignoredPrefixes.contains(where: key.hasPrefix) ? .ignored : .unknown
    }

    // MARK: UNet

    /// diffusers' name for a UNet parameter or module path in LDM/SGM naming (without `model.diffusion_model.`),
    /// or nil when the path is not one of a UNet's.
    public static func unetKey(fromSingleFile path: String) -> String? {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        switch parts[0] {
        case "time_embed":
            guard let name = ["0": "linear_1", "2": "linear_2"][parts[1]] else { return nil }
            return joined(["time_embedding", name], parts.dropFirst(2))
        case "label_emb":
            guard parts.count >= 3, parts[1] == "0",
                  let name = ["0": "linear_1", "2": "linear_2"][parts[2]] else { return nil }
            return joined(["add_embedding", name], parts.dropFirst(3))
        case "out":
            guard let name = ["0": "conv_norm_out", "2": "conv_out"][parts[1]] else { return nil }
            return joined([name], parts.dropFirst(2))
        case "input_blocks":
            guard parts.count >= 3, let block = Int(parts[1]), let sub = Int(parts[2]) else { return nil }
            let rest = Array(parts.dropFirst(3))
            if block == 0 { return sub == 0 ? joined(["conv_in"], rest) : nil }
            let level = (block - 1) / 3, layer = (block - 1) % 3
            switch (sub, layer) {
            case (0, 2):
                guard rest.first == "op" else { return nil }
                return joined(["down_blocks", "\(level)", "downsamplers", "0", "conv"], rest.dropFirst())
            case (0, _):
                return resnet(["down_blocks", "\(level)", "resnets", "\(layer)"], rest)
            case (1, 0), (1, 1):
                return joined(["down_blocks", "\(level)", "attentions", "\(layer)"], rest)
            default:
                return nil
            }
        case "middle_block":
            let rest = Array(parts.dropFirst(2))
            switch parts[1] {
            case "0": return resnet(["mid_block", "resnets", "0"], rest)
            case "1": return joined(["mid_block", "attentions", "0"], rest)
            case "2": return resnet(["mid_block", "resnets", "1"], rest)
            default: return nil
            }
        case "output_blocks":
            guard parts.count >= 3, let block = Int(parts[1]), let sub = Int(parts[2]) else { return nil }
            let rest = Array(parts.dropFirst(3))
            let level = block / 3, layer = block % 3
            if sub == 0 { return resnet(["up_blocks", "\(level)", "resnets", "\(layer)"], rest) }
            // The upsampler sits after the last resnet (and its attention, when the level has one).
            if rest.first == "conv" {
                guard layer == 2 else { return nil }
                return joined(["up_blocks", "\(level)", "upsamplers", "0", "conv"], rest.dropFirst())
            }
            guard sub == 1 else { return nil }
            return joined(["up_blocks", "\(level)", "attentions", "\(layer)"], rest)
        default:
            return nil
        }
    }

    /// LDM/SGM name (without `model.diffusion_model.`) for a diffusers UNet parameter or module path.
    /// `upBlockHasAttention(level)` tells whether an up level has attentions, which moves its upsampler from
    /// `output_blocks.N.1` to `output_blocks.N.2`.
    public static func singleFileUNetKey(fromDiffusers path: String, upBlockHasAttention: (Int) -> Bool) -> String? {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        func index(_ i: Int) -> Int? { parts.count > i ? Int(parts[i]) : nil }
        switch parts[0] {
        case "time_embedding", "add_embedding":
            guard let number = ["linear_1": "0", "linear_2": "2"][parts[1]] else { return nil }
            let head = parts[0] == "time_embedding" ? ["time_embed", number] : ["label_emb", "0", number]
            return joined(head, parts.dropFirst(2))
        case "conv_in":
            return joined(["input_blocks", "0", "0"], parts.dropFirst())
        case "conv_norm_out", "conv_out":
            return joined(["out", parts[0] == "conv_out" ? "2" : "0"], parts.dropFirst())
        case "down_blocks":
            guard let level = index(1), parts.count >= 4 else { return nil }
            switch parts[2] {
            case "resnets":
                guard let layer = index(3) else { return nil }
                return ldmResnet(["input_blocks", "\(1 + 3 * level + layer)", "0"], Array(parts.dropFirst(4)))
            case "attentions":
                guard let layer = index(3) else { return nil }
                return joined(["input_blocks", "\(1 + 3 * level + layer)", "1"], parts.dropFirst(4))
            case "downsamplers":
                guard parts.count >= 5, parts[3] == "0", parts[4] == "conv" else { return nil }
                return joined(["input_blocks", "\(3 + 3 * level)", "0", "op"], parts.dropFirst(5))
            default:
                return nil
            }
        case "mid_block":
            guard parts.count >= 3, let layer = index(2) else { return nil }
            switch parts[1] {
            case "resnets": return ldmResnet(["middle_block", "\(2 * layer)"], Array(parts.dropFirst(3)))
            case "attentions": return joined(["middle_block", "1"], parts.dropFirst(3))
            default: return nil
            }
        case "up_blocks":
            guard let level = index(1), parts.count >= 4 else { return nil }
            switch parts[2] {
            case "resnets":
                guard let layer = index(3) else { return nil }
                return ldmResnet(["output_blocks", "\(3 * level + layer)", "0"], Array(parts.dropFirst(4)))
            case "attentions":
                guard let layer = index(3) else { return nil }
                return joined(["output_blocks", "\(3 * level + layer)", "1"], parts.dropFirst(4))
            case "upsamplers":
                guard parts.count >= 5, parts[3] == "0", parts[4] == "conv" else { return nil }
                let sub = upBlockHasAttention(level) ? "2" : "1"
                return joined(["output_blocks", "\(3 * level + 2)", sub, "conv"], parts.dropFirst(5))
            default:
                return nil
            }
        default:
            return nil
        }
    }

    /// Resnet sub-layers: LDM's sequential indices ↔ diffusers' names.
    private static let resnetNames: [(ldm: [String], diffusers: String)] = [
        (["in_layers", "0"], "norm1"), (["in_layers", "2"], "conv1"), (["emb_layers", "1"], "time_emb_proj"),
        (["out_layers", "0"], "norm2"), (["out_layers", "3"], "conv2"), (["skip_connection"], "conv_shortcut"),
    ]

    private static func resnet(_ head: [String], _ rest: [String]) -> String? {
        for entry in resnetNames where rest.starts(with: entry.ldm) {
            return joined(head + [entry.diffusers], rest.dropFirst(entry.ldm.count))
        }
        return nil
    }

    private static func ldmResnet(_ head: [String], _ rest: [String]) -> String? {
        guard let first = rest.first, let entry = resnetNames.first(where: { $0.diffusers == first }) else {
            return nil
        }
        return joined(head + entry.ldm, rest.dropFirst())
    }

    // MARK: VAE

    private static func vae(_ key: String, levels: Int) -> Mapping {
        var parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == "encoder" || parts[0] == "decoder" else {
            return ["quant_conv", "post_quant_conv"].contains(parts.first ?? "")
                ? .tensors([Target(.vae, key)]) : .unknown
        }
        let side = parts.removeFirst()
        func target(_ path: [String], _ transform: Transform = .identity) -> Mapping {
            .tensors([Target(.vae, ([side] + path).joined(separator: "."), transform)])
        }
        func vaeResnet(_ head: [String], _ rest: ArraySlice<String>) -> Mapping {
            guard let first = rest.first, ["norm1", "conv1", "norm2", "conv2", "nin_shortcut"].contains(first) else {
                return .unknown
            }
            let name = first == "nin_shortcut" ? "conv_shortcut" : first
            return target(head + [name] + rest.dropFirst())
        }
        switch parts[0] {
        case "conv_in", "conv_out":
            return target(parts)
        case "norm_out":
            return target(["conv_norm_out"] + parts.dropFirst())
        case "mid":
            guard parts.count >= 3 else { return .unknown }
            switch parts[1] {
            case "block_1": return vaeResnet(["mid_block", "resnets", "0"], parts.dropFirst(2))
            case "block_2": return vaeResnet(["mid_block", "resnets", "1"], parts.dropFirst(2))
            case "attn_1":
                let names = ["norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"]
                guard let name = names[parts[2]], parts.count == 4 else { return .unknown }
                let transform: Transform = parts[2] != "norm" && parts[3] == "weight" ? .squeezeConv1x1 : .identity
                return target(["mid_block", "attentions", "0", name, parts[3]], transform)
            default: return .unknown
            }
        case "down", "up":
            guard parts.count >= 4, let ldmLevel = Int(parts[1]), ldmLevel < levels else { return .unknown }
            let isEncoder = parts[0] == "down"
            guard isEncoder == (side == "encoder") else { return .unknown }
            // The decoder's levels run bottom-up in LDM and top-down in diffusers.
            let level = isEncoder ? ldmLevel : levels - 1 - ldmLevel
            let blocks = isEncoder ? "down_blocks" : "up_blocks"
            switch parts[2] {
            case "block":
                guard let layer = Int(parts[3]) else { return .unknown }
                return vaeResnet([blocks, "\(level)", "resnets", "\(layer)"], parts.dropFirst(4))
            case "downsample" where isEncoder, "upsample" where !isEncoder:
                guard parts[3] == "conv" else { return .unknown }
                let samplers = isEncoder ? "downsamplers" : "upsamplers"
                return target([blocks, "\(level)", samplers, "0", "conv"] + parts.dropFirst(4))
            default:
                return .unknown
            }
        default:
            return .unknown
        }
    }

    // MARK: Text encoders

    /// SD1.x's and SDXL's first encoder are stored in Hugging Face's own naming (older files omit `text_model.`).
    private static func huggingFaceCLIP(_ key: String, component: Component) -> Mapping {
        if key.hasSuffix("position_ids") { return .ignored }  // a constant buffer, not a weight
        let name = key.hasPrefix("text_model.") ? key : "text_model." + key
        return .tensors([Target(component, name)])
    }

    /// OpenCLIP's text tower (SD2.x's encoder, SDXL's second) in Hugging Face CLIP naming.
    private static func openCLIP(_ key: String, component: Component) -> Mapping {
        switch key {
        case "token_embedding.weight":
            return .tensors([Target(component, "text_model.embeddings.token_embedding.weight")])
        case "positional_embedding":
            return .tensors([Target(component, "text_model.embeddings.position_embedding.weight")])
        case "text_projection":
            return .tensors([Target(component, "text_projection.weight", .transpose)])
        case "logit_scale":
            return .ignored
        default:
            break
        }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "ln_final" {
            return .tensors([Target(component, joined(["text_model", "final_layer_norm"], parts.dropFirst()))])
        }
        guard let tensors = openCLIPResidualBlock(parts, tower: "text_model") else { return .unknown }
        return .tensors(tensors.map { Target(component, $0.key, $0.transform) })
    }

    /// An OpenCLIP transformer block's tensor (`parts` from `transformer.resblocks.N`) in transformers' naming
    /// under `tower` (`text_model`, `vision_model`): both towers' blocks have the same layout.
    private static func openCLIPResidualBlock(_ parts: [String], tower: String) -> [(key: String, transform: Transform)]? {
        guard parts.count >= 5, parts[0] == "transformer", parts[1] == "resblocks", let layer = Int(parts[2]) else {
            return nil
        }
        let head = [tower, "encoder", "layers", "\(layer)"]
        let rest = Array(parts.dropFirst(3))
        switch (rest[0], rest[1]) {
        case ("ln_1", _): return [(joined(head + ["layer_norm1"], rest.dropFirst()), .identity)]
        case ("ln_2", _): return [(joined(head + ["layer_norm2"], rest.dropFirst()), .identity)]
        case ("mlp", "c_fc"): return [(joined(head + ["mlp", "fc1"], rest.dropFirst(2)), .identity)]
        case ("mlp", "c_proj"): return [(joined(head + ["mlp", "fc2"], rest.dropFirst(2)), .identity)]
        case ("attn", "out_proj"): return [(joined(head + ["self_attn", "out_proj"], rest.dropFirst(2)), .identity)]
        case ("attn", "in_proj_weight"), ("attn", "in_proj_bias"):
            let suffix = rest[1] == "in_proj_weight" ? "weight" : "bias"
            return ["q_proj", "k_proj", "v_proj"].enumerated().map { part, name in
                (joined(head + ["self_attn", name, suffix], []), .splitRows(part: part, count: 3))
            }
        default:
            return nil
        }
    }

    // MARK: OpenCLIP image–text models

    /// Where a tensor of a whole OpenCLIP model file (`open_clip_model.safetensors`: the image tower under
    /// `visual.`, the text tower at the top level) goes in transformers' `CLIPModel` naming; empty for a tensor
    /// `CLIPModel` has no place for.
    static func clipModelKeys(fromOpenCLIP key: String) -> [(key: String, transform: Transform)] {
        if key == "logit_scale" { return [(key, .identity)] }
        guard let visual = key.dropPrefix("visual.") else {
            guard case .tensors(let targets) = openCLIP(key, component: .textEncoder) else { return [] }
            return targets.map { ($0.key, $0.transform) }
        }
        let parts = visual.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let embeddings = ["vision_model", "embeddings"]
        switch parts[0] {
        case "conv1": return [(joined(embeddings + ["patch_embedding"], parts.dropFirst()), .identity)]
        case "class_embedding": return [(joined(embeddings + ["class_embedding"], []), .identity)]
        case "positional_embedding": return [(joined(embeddings + ["position_embedding", "weight"], []), .identity)]
        case "ln_pre": return [(joined(["vision_model", "pre_layrnorm"], parts.dropFirst()), .identity)]
        case "ln_post": return [(joined(["vision_model", "post_layernorm"], parts.dropFirst()), .identity)]
        case "proj": return [("visual_projection.weight", .transpose)]
        default: return openCLIPResidualBlock(parts, tower: "vision_model") ?? []
        }
    }

    private static func joined<S: Sequence<String>>(_ head: [String], _ rest: S) -> String {
        (head + Array(rest)).joined(separator: ".")
    }
}

extension String {
    /// The rest of the string after `prefix`, or nil when it does not start with it.
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
