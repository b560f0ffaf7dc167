import Diffusion
import Foundation

/// The UNet modules a membrane can adapt, with their shapes: every linear layer and 1×1 convolution inside the
/// transformers (METHOD.md §1) — proj_in, proj_out, attn1/attn2 to_q, to_k, to_v, to_out.0, ff.net.0.proj, ff.net.2.
/// Computed from the UNet's config, so it holds for any model of the engine's UNet family (SD1.5, SD2.1, SDXL, the
/// tiny testbed), and names in files are looked up against it.
public struct MembraneLayout: Sendable {
    public struct Module: Sendable, Equatable {
        /// diffusers module path (`down_blocks.0.attentions.0.proj_in`).
        public let path: String
        public let inFeatures: Int
        public let outFeatures: Int
        /// A 1×1 convolution (SD1.x proj_in/proj_out): down is [r,in,1,1] and up [out,r,1,1] in files.
        public let isConvolution: Bool
    }

    /// Modules in the UNet's own order (down path, middle, up path).
    public let modules: [Module]
    /// Whether each up level has attention: SGM names number output blocks differently without it.
    public let upLevelHasAttention: [Bool]
    private let byPath: [String: Int]
    public let index: LoRANaming.Index

    public init(unet configuration: UNetConfiguration) {
        var modules: [Module] = []
        let crossWidth = configuration.crossAttentionDim
        let convolution = !configuration.useLinearProjection
        func transformer(_ prefix: String, channels: Int, depth: Int) {
            modules.append(Module(path: prefix + ".proj_in", inFeatures: channels, outFeatures: channels, isConvolution: convolution))
            for block in 0..<depth {
                let base = "\(prefix).transformer_blocks.\(block)."
                for attention in ["attn1", "attn2"] {
                    let keyWidth = attention == "attn1" ? channels : crossWidth
                    for (name, input) in [("to_q", channels), ("to_k", keyWidth), ("to_v", keyWidth), ("to_out.0", channels)] {
                        modules.append(Module(path: base + attention + "." + name, inFeatures: input, outFeatures: channels, isConvolution: false))
                    }
                }
                // GEGLU doubles the 4× hidden width: one half is the gate.
                modules.append(Module(path: base + "ff.net.0.proj", inFeatures: channels, outFeatures: channels * 8, isConvolution: false))
                modules.append(Module(path: base + "ff.net.2", inFeatures: channels * 4, outFeatures: channels, isConvolution: false))
            }
            modules.append(Module(path: prefix + ".proj_out", inFeatures: channels, outFeatures: channels, isConvolution: convolution))
        }
        for (i, level) in configuration.downLevels.enumerated() where level.hasAttention {
            for j in 0..<level.layers {
                transformer("down_blocks.\(i).attentions.\(j)", channels: level.outChannels, depth: level.transformerDepth)
            }
        }
        if let deepest = configuration.downLevels.last {
            transformer("mid_block.attentions.0", channels: deepest.outChannels, depth: configuration.midTransformerDepth)
        }
        for (i, level) in configuration.upLevels.enumerated() where level.hasAttention {
            for j in 0..<level.layers {
                transformer("up_blocks.\(i).attentions.\(j)", channels: level.outChannels, depth: level.transformerDepth)
            }
        }
        self.modules = modules
        let upAttention = configuration.upLevels.map(\.hasAttention)
        upLevelHasAttention = upAttention
        byPath = Dictionary(uniqueKeysWithValues: modules.enumerated().map { ($1.path, $0) })
        index = LoRANaming.Index(unetModules: modules.map(\.path)) { upAttention.indices.contains($0) && upAttention[$0] }
    }

    /// The module at diffusers path `path`.
    public func module(_ path: String) -> Module? { byPath[path].map { modules[$0] } }

    /// The name files give `path` (`lora_unet_…`), in SGM paths or diffusers paths.
    public func kohyaName(_ path: String, sgmPaths: Bool) -> String? {
        LoRANaming.kohyaName(unetModule: path, sgmPaths: sgmPaths) { [upLevelHasAttention] in
            upLevelHasAttention.indices.contains($0) && upLevelHasAttention[$0]
        }
    }

    /// The layout of the UNet config bundled for `family` (SD1.5, SD2.1, SDXL); nil for the testbed, whose
    /// layout comes from its own config (`MembraneLayout(unetConfigAt:)`).
    public static func bundled(for family: ModelFamily) throws -> MembraneLayout? {
        let architecture: CheckpointArchitecture
        switch family {
        case .sd1: architecture = .sd1
        case .sd2: architecture = .sd2
        case .sdxl, .pony, .illustrious: architecture = .sdxl
        case .testbed: return nil
        }
        let folder = try PipelineModels.bundledConfigFolder(architecture)
        return MembraneLayout(unet: try UNetConfiguration.load(from: folder.appendingPathComponent("unet/config.json")))
    }

    /// The layout of the UNet described by `url`: a diffusers `unet/config.json`, a `unet` folder, or a model folder.
    public init(unetConfigAt url: URL) throws {
        var isDirectory: ObjCBool = false
        var file = url
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            let nested = url.appendingPathComponent("unet/config.json")
            file = FileManager.default.fileExists(atPath: nested.path) ? nested : url.appendingPathComponent("config.json")
        }
        self.init(unet: try UNetConfiguration.load(from: file))
    }
}
