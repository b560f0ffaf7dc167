import Foundation
import Testing

@Suite struct InspectCommandTests {
    private let kohya = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors").path
    private let research = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path
    private let folder = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path

    @Test func helpDescribesTheCommand() throws {
        let run = try WorkbenchRun(["inspect", "--help"])
        #expect(run.status == 0)
        #expect(run.standardOutput.contains("USAGE: spm-workbench inspect <path> [--json]"))
        #expect(run.standardOutput.contains("pickles"))
    }

    @Test func kohyaLoRAText() throws {
        let run = try WorkbenchRun(["inspect", kohya])
        #expect(run.status == 0)
        #expect(run.standardError.isEmpty)
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        // Counts checked against Python's safetensors: 120 tensors, 1,016 elements (976 in down/up matrices).
        for expected in ["tensors      120", "parameters   1,016", "dtypes       F32 ×120", "metadata     9 entries",
                         "  layers       40 (UNet 40, text encoders 0)", "  rank         1", "  alpha        1",
                         "  parameters   976", "  naming       diffusers module paths",
                         "  family       sd1 (ss_base_model_version=sd_v1)", "  concepts     none recorded"] {
            #expect(lines.contains(expected), "missing line: \(expected)")
        }
        #expect(lines.contains { $0.hasPrefix("  ss_network_module") && $0.hasSuffix("networks.lora") })
    }

    @Test func researchCodeFileJSON() throws {
        let run = try WorkbenchRun(["inspect", "--json", research])
        #expect(run.status == 0)
        let object = try run.jsonObject()
        #expect(object["kind"] as? String == "safetensors")
        #expect(object["tensor_count"] as? Int == 120)
        #expect(object["parameter_count"] as? Int == 1016)
        #expect(object["dtypes"] as? [String: Int] == ["F32": 120])
        #expect(object["metadata"] as? [String: String] == ["prompts": "Van Gogh,Picasso", "rank": "1", "alpha": "1.0"])
        let membrane = try #require(object["membrane"] as? [String: Any])
        #expect(membrane["concepts"] as? [String] == ["Van Gogh", "Picasso"])
        #expect(membrane["family"] as? String == "sd1")
        #expect(membrane["layer_count"] as? Int == 40)
        #expect(membrane["ranks"] as? [Int] == [1])
        #expect(membrane["naming"] as? String == "diffusers")
        // Stable output: keys sorted at every level, so the same file always prints the same text.
        let topKeys = ["\"dtypes\"", "\"kind\"", "\"membrane\"", "\"metadata\"", "\"parameter_count\"", "\"path\"", "\"tensor_count\""]
        let positions = topKeys.map { run.standardOutput.range(of: "\n  " + $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(try WorkbenchRun(["inspect", "--json", research]).standardOutput == run.standardOutput)
    }

    @Test func diffusersFolder() throws {
        let text = try WorkbenchRun(["inspect", folder])
        #expect(text.status == 0)
        #expect(text.standardOutput.contains("pipeline          StableDiffusionPipeline"))
        #expect(text.standardOutput.contains("unet  UNet2DConditionModel (diffusers)"))
        #expect(text.standardOutput.contains("cross_attention_dim=32"))
        #expect(text.standardOutput.contains("weights  diffusion_pytorch_model.safetensors: 208 tensors, 53,284 parameters"))

        let run = try WorkbenchRun(["inspect", folder, "--json"])
        #expect(run.status == 0)
        let object = try run.jsonObject()
        #expect(object["kind"] as? String == "diffusers-folder")
        #expect(object["pipeline"] as? String == "StableDiffusionPipeline")
        let components = try #require(object["components"] as? [String: [String: Any]])
        #expect(Set(components.keys) == ["unet", "vae", "text_encoder", "tokenizer", "scheduler"])
        #expect(components["unet"]?["class"] as? String == "UNet2DConditionModel")
        #expect(components["text_encoder"]?["library"] as? String == "transformers")
        #expect(components["scheduler"]?["config_file"] as? String == "scheduler_config.json")
        let unetFigures = try #require(components["unet"]?["key_figures"] as? [String: Any])
        #expect(unetFigures["block_out_channels"] as? [Int] == [8, 16])
        #expect(unetFigures["cross_attention_dim"] as? Int == 32)
        #expect(unetFigures["sample_size"] as? Int == 8)
        // Parameter counts checked against Python's safetensors for the same files.
        func parameters(_ component: String) -> Int? {
            (components[component]?["weights"] as? [[String: Any]])?.first?["parameter_count"] as? Int
        }
        #expect(parameters("unet") == 53_284)
        #expect(parameters("vae") == 11_827)
        #expect(parameters("text_encoder") == 32_970)
        #expect((components["tokenizer"]?["weights"] as? [Any])?.isEmpty == true)
    }

    /// Models end in a load check built from the tensor headers: per component what was applied, and every
    /// missing, mis-shaped and unused tensor.
    @Test func modelsGetALoadCheck() throws {
        let pipelines = WorkbenchRun.repositoryRoot.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines")
        let variants = pipelines.appendingPathComponent("sd1-variants").path

        let ambiguous = try WorkbenchRun(["inspect", variants])
        #expect(ambiguous.status == 0, "the rest of the report still describes the folder")
        #expect(ambiguous.standardOutput.contains("load check        not run"))
        #expect(ambiguous.standardOutput.contains("variants bf16, fp16: choose one (--variant)"))

        let fp16 = try WorkbenchRun(["inspect", variants, "--variant", "fp16"])
        #expect(fp16.standardOutput.contains("load check        applied 368 tensors (109,859 parameters); 0 missing, 0 mis-shaped, 0 unused"))
        #expect(fp16.standardOutput.contains("  vae           2 shards (diffusion_pytorch_model.fp16-00001-of-00002.safetensors …) [fp16]: 124 tensors"))
        let check = try #require(try WorkbenchRun(["inspect", variants, "--variant", "fp16", "--json"]).jsonObject()["load_check"] as? [String: Any])
        #expect(check["complete"] as? Bool == true)
        let components = try #require(check["components"] as? [String: [String: Any]])
        #expect(components["unet"]?["variant"] as? String == "fp16")
        #expect(components["unet"]?["applied_tensors"] as? Int == 208)
        #expect((components["text_encoder"]?["files"] as? [String])?.count == 2)

        // A single file read with configs that do not fit: every problem listed, exit status 0.
        let sd1File = pipelines.appendingPathComponent("sd1-single-file.safetensors").path
        let mismatch = try WorkbenchRun(["inspect", sd1File, "--config", pipelines.appendingPathComponent("sdxl").path, "--json"])
        #expect(mismatch.status == 0)
        let mismatchCheck = try #require(try mismatch.jsonObject()["load_check"] as? [String: Any])
        #expect(mismatchCheck["complete"] as? Bool == false)
        let unet = try #require((mismatchCheck["components"] as? [String: [String: Any]])?["unet"])
        #expect((unet["missing"] as? [String])?.contains { $0.hasSuffix("tensor \"add_embedding.linear_1.weight\" is missing (expected shape [32, 80])") } == true)
        #expect((unet["mis_shaped"] as? [String])?.contains { $0.hasSuffix("tensor \"down_blocks.1.attentions.0.proj_in.weight\" has shape [16, 16, 1, 1], expected [16, 16]") } == true)

        // A LoRA is no model.
        #expect(try WorkbenchRun(["inspect", kohya, "--json"]).jsonObject()["load_check"] is NSNull)
    }

    @Test func picklesAndBrokenFilesFailWithOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(ProcessInfo.processInfo.globallyUniqueString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pickle = directory.appendingPathComponent("model.ckpt")
        try Data([0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E]).write(to: pickle)
        let broken = directory.appendingPathComponent("broken.safetensors")
        try Data([15, 0, 0, 0, 0, 0, 0, 0] + Array("{\"a\":{\"dtype\":1".utf8)).write(to: broken)
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try Data(try Data(contentsOf: URL(fileURLWithPath: kohya)).dropLast(5)).write(to: truncated)

        let cases: [(String, String)] = [
            (pickle.path, "convert it first"),
            (broken.path, "header is not valid JSON"),
            (truncated.path, "is beyond the"),
            (directory.appendingPathComponent("missing.safetensors").path, "no such file"),
            (directory.path, "not a diffusers model folder"),
        ]
        for (path, fragment) in cases {
            for arguments in [["inspect", path], ["inspect", "--json", path]] {
                let run = try WorkbenchRun(arguments)
                #expect(run.status == 1, "\(arguments)")
                #expect(run.standardOutput.isEmpty)
                #expect(run.standardError.hasPrefix("error: \(path)"), "\(run.standardError)")
                #expect(run.standardError.contains(fragment), "\(run.standardError)")
                #expect(run.standardError.filter { $0 == "\n" }.count == 1, "\(run.standardError)")
            }
        }
    }
}
