import Diffusion

/// kohya-style LoRA names (`lora_unet_` + module path with '.' → '_'), the names every tool in FORMATS.md reads.
///
/// SD1.x/SD2.x files use diffusers module paths; the SDXL family uses SGM paths (kohya's own naming). Reading
/// accepts both for every family, because the original research code wrote diffusers-path SDXL files. Names
/// cannot be split back at '_' (module names contain underscores), so reading looks names up in an index built
/// from the model's own module paths.
public enum LoRANaming {
    public static let unetPrefix = "lora_unet_"

    /// The name a file we write gives a UNet module (`path` in diffusers naming). Nil when the path is not a
    /// UNet module path.
    public static func kohyaName(unetModule path: String, sgmPaths: Bool,
                                 upBlockHasAttention: (Int) -> Bool) -> String? {
        let written: String?
        if sgmPaths {
            written = SingleFileKeyMap.singleFileUNetKey(fromDiffusers: path, upBlockHasAttention: upBlockHasAttention)
        } else {
            written = path
        }
        return written.map { unetPrefix + $0.replacingOccurrences(of: ".", with: "_") }
    }

    /// Finds the module (diffusers path) a kohya name refers to.
    public struct Index: Sendable {
        private var modules: [String: String] = [:]

        /// Indexes `unetModules` (diffusers paths) under both of their kohya names.
        public init(unetModules: some Sequence<String>, upBlockHasAttention: (Int) -> Bool) {
            for path in unetModules {
                for sgm in [false, true] {
                    if let name = LoRANaming.kohyaName(unetModule: path, sgmPaths: sgm, upBlockHasAttention: upBlockHasAttention) {
                        modules[name] = path
                    }
                }
            }
        }

        /// The diffusers module path for `name` (without `.lora_down.weight` etc.), or nil when no module has it.
        public func module(forKohyaName name: String) -> String? { modules[name] }
    }
}
