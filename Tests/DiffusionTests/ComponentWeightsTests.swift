import Foundation
import Testing
@testable import Diffusion

/// diffusers folders whose weights come as precision variants and shards (tools/golden_variants.py): which files
/// are read, fp16/bf16 widened exactly (images against diffusers' own load of the same variant), and one-line
/// errors naming the key and both shapes on every path.
@Suite struct ComponentWeightsTests {
    static let folder = PipelineParityTests.folder("sd1-variants")

    static func golden(_ name: String) throws -> Tensor {
        let file = try WeightFile.open(folder.appendingPathComponent("images.safetensors"))
        return Tensor(try file.floats(name), shape: try file.info(name).shape)
    }

    static func generate(_ models: PipelineModels) throws -> Tensor {
        let request = GenerationRequest(prompt: "a cat painting", negativePrompt: "a dog", steps: 10, guidance: 5,
                                        width: 32, height: 32, scheduler: .ddim, initialLatents: try golden("latents"))
        return models.decodeToUnitImages(try models.generate(request).latents)
    }

    @Test(arguments: ["fp16", "bf16"])
    func variantGenerationsMatchDiffusers(variant: String) throws {
        let models = try PipelineModels.load(from: Self.folder, variant: variant)
        let report = Dictionary(uniqueKeysWithValues: models.loadReport.components.map { ($0.name, $0) })
        #expect(models.unusedTensors.isEmpty && models.loadReport.isComplete)
        #expect(report["unet"]?.variant == variant)
        #expect(report["unet"]?.files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["diffusion_pytorch_model.\(variant).safetensors"])
        // The VAE has an fp16 variant in two shards; for bf16 it falls back to its full-precision file.
        #expect(report["vae"]?.variant == (variant == "fp16" ? "fp16" : nil))
        #expect(report["vae"]?.files.count == (variant == "fp16" ? 2 : 1))
        // The text encoder has full precision in two shards only.
        #expect(report["text_encoder"]?.variant == nil && report["text_encoder"]?.files.count == 2)
        for component in models.loadReport.components {
            #expect(component.appliedTensors == component.files.reduce(0) { $0 + ((try? SafetensorsFile(url: URL(fileURLWithPath: $1)))?.tensors.count ?? 0) },
                    "\(component.name): every stored tensor applied")
        }
        let error = PipelineParityTests.maxError(try Self.generate(models), try Self.golden(variant))
        // fp16 and bf16 weights give images 1.7e-3 apart, so the bound tells the two decodings apart.
        #expect(error <= 1e-4, "\(variant): max abs error \(error)")
    }

    @Test func variantChoiceIsExplicitWhenAmbiguous() throws {
        // unet/ has fp16 and bf16 and no full precision: no silent pick.
        #expect(throws: WeightsError.ambiguousVariant(folder: Self.folder.appendingPathComponent("unet").path,
                                                       expected: "diffusion_pytorch_model.safetensors", variants: ["bf16", "fp16"])) {
            try PipelineModels.load(from: Self.folder)
        }
        #expect(throws: WeightsError.variantNotFound(folder: Self.folder.path, variant: "fp8", available: ["bf16", "fp16"])) {
            try PipelineModels.load(from: Self.folder, variant: "fp8")
        }
        // One variant alone is picked without being asked for.
        let copy = try Self.copy()
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("unet/diffusion_pytorch_model.bf16.safetensors"))
        let models = try PipelineModels.load(from: copy)
        #expect(models.loadReport.components.first { $0.name == "unet" }?.variant == "fp16")
        #expect(models.loadReport.components.first { $0.name == "vae" }?.variant == nil, "full precision wins without --variant")
    }

    @Test func fileNamesParse() {
        let stem = "diffusion_pytorch_model"
        #expect(ComponentWeights.parse("diffusion_pytorch_model.safetensors", stem: stem)! == (nil, false))
        #expect(ComponentWeights.parse("diffusion_pytorch_model.fp16.safetensors", stem: stem)! == ("fp16", false))
        #expect(ComponentWeights.parse("diffusion_pytorch_model-00001-of-00002.safetensors", stem: stem)! == (nil, true))
        #expect(ComponentWeights.parse("diffusion_pytorch_model.fp16-00002-of-00002.safetensors", stem: stem)! == ("fp16", true))
        #expect(ComponentWeights.parse("diffusion_pytorch_model.safetensors.index.bf16.json", stem: stem)! == ("bf16", true))
        #expect(ComponentWeights.parse("diffusion_pytorch_model.safetensors.fp16.index.json", stem: stem)! == ("fp16", true))
        #expect(ComponentWeights.parse("diffusion_pytorch_model.bin", stem: stem) == nil)
        #expect(ComponentWeights.parse("model.safetensors", stem: stem) == nil)
        #expect(ComponentWeights.variants(in: Self.folder.appendingPathComponent("vae"), stem: stem) == ["fp16"])
    }

    @Test func folderSummaryNamesShardVariants() throws {
        let folder = try DiffusersFolder(url: Self.folder)
        let files = Dictionary(uniqueKeysWithValues: folder.components.map { ($0.name, $0.weightFiles) })
        #expect(files["vae"]?.map(\.variant) == ["fp16", "fp16", nil])
        #expect(files["text_encoder"]?.map(\.variant) == [nil, nil])
        #expect(files["unet"]?.map(\.variant) == ["bf16", "fp16"])
    }

    // MARK: - Broken folders

    /// A writable copy of the variants folder.
    static func copy() throws -> URL {
        let directory = try SafetensorsFixtures.temporaryDirectory("variants")
        let copy = directory.appendingPathComponent("sd1-variants")
        try FileManager.default.copyItem(at: folder, to: copy)
        return copy
    }

    /// Rewrites a safetensors file through `edit` (tensor name, shape, bytes → new entry or nil to drop it).
    static func rewrite(_ url: URL, _ edit: (SafetensorsEntry) -> SafetensorsEntry?) throws {
        let file = try WeightFile.open(url)
        let entries = try file.tensors.compactMap { info in
            edit(SafetensorsEntry(name: info.name, dtype: info.dtype, shape: info.shape, bytes: Array(try file.rawBytes(info.name))))
        }
        try SafetensorsWriter.write(entries, to: url)
    }

    /// The last row of a 2-D tensor dropped.
    static func shortened(_ entry: SafetensorsEntry) -> SafetensorsEntry {
        let rowBytes = entry.bytes.count / entry.shape[0]
        return SafetensorsEntry(name: entry.name, dtype: entry.dtype, shape: [entry.shape[0] - 1] + entry.shape.dropFirst(),
                                bytes: Array(entry.bytes.dropLast(rowBytes)))
    }

    @Test func misShapedAndMissingTensorsAreNamedOnEveryPath() throws {
        let copy = try Self.copy()
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        // A variant file (fp16): one weight a row short.
        let unetFile = copy.appendingPathComponent("unet/diffusion_pytorch_model.fp16.safetensors")
        let unetKey = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
        try Self.rewrite(unetFile) { $0.name == unetKey ? Self.shortened($0) : $0 }
        // A shard of an fp16 variant index: one tensor dropped, from the shard and the index alike.
        let vaeIndex = copy.appendingPathComponent("vae/diffusion_pytorch_model.safetensors.index.fp16.json")
        let shard = "diffusion_pytorch_model.fp16-00002-of-00002.safetensors"
        let vaeKey = try #require(try WeightFile.open(copy.appendingPathComponent("vae/" + shard)).tensorNames.first)
        try Self.rewrite(copy.appendingPathComponent("vae/" + shard)) { $0.name == vaeKey ? nil : $0 }
        try Self.removeFromIndex(vaeIndex, key: vaeKey)
        // A full-precision shard: one tensor a row short.
        // (transformers 5 stores the text model's keys without `text_model.`; errors name the model's key.)
        let textKey = "text_model.encoder.layers.1.mlp.fc1.weight", storedTextKey = "encoder.layers.1.mlp.fc1.weight"
        let textShard = try #require(try Self.shard(of: storedTextKey, index: copy.appendingPathComponent("text_encoder/model.safetensors.index.json")))
        try Self.rewrite(copy.appendingPathComponent("text_encoder/" + textShard)) { $0.name == storedTextKey ? Self.shortened($0) : $0 }

        // A load stops at the first problem with one line naming the key and both shapes.
        do {
            _ = try PipelineModels.load(from: copy, variant: "fp16")
            Issue.record("a mis-shaped text encoder tensor loaded")
        } catch let error as LoadError {
            #expect(error == .misShaped(source: copy.appendingPathComponent("text_encoder").path + " (2 shards)", key: textKey,
                                        expectedShape: [32, 16], foundShape: [31, 16]))
            #expect(!error.description.contains("\n"))
        }
        // A checking load lists every problem of every component.
        let report = try PipelineModels.checkLoad(from: copy, variant: "fp16")
        let problems = Dictionary(uniqueKeysWithValues: report.components.map { ($0.name, $0.missing + $0.misShaped) })
        #expect(!report.isComplete)
        #expect(problems["text_encoder"]?.map(\.description) == [
            "\(copy.path)/text_encoder (2 shards): tensor \"\(textKey)\" has shape [31, 16], expected [32, 16]"])
        #expect(problems["unet"]?.map(\.description) == [
            "\(unetFile.path): tensor \"\(unetKey)\" has shape [7, 16], expected [8, 16]"])
        let vaeProblem = try #require(problems["vae"]?.first)
        #expect(problems["vae"]?.count == 1)
        guard case .missing(_, let key, let shape) = vaeProblem else { Issue.record("expected a missing VAE tensor"); return }
        #expect(key == vaeKey && !shape.isEmpty)
        #expect(vaeProblem.description.hasSuffix("tensor \"\(vaeKey)\" is missing (expected shape \(shape))"))
        #expect(report.unusedTensors.isEmpty)
    }

    @Test func brokenShardIndexesFailWithOneLine() throws {
        let copy = try Self.copy()
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let index = copy.appendingPathComponent("text_encoder/model.safetensors.index.json")
        let original = try Data(contentsOf: index)
        let text = String(decoding: original, as: UTF8.self)
        let cases: [(String, String)] = [
            (text.replacingOccurrences(of: "model-00002-of-00002", with: "model-00003-of-00003"),
             "weight_map names model-00003-of-00003.safetensors, which is not in the folder"),
            (text.replacingOccurrences(of: "\"weight_map\": {", with: "\"weight_map\": {\n    \"not.a.tensor\": \"model-00001-of-00002.safetensors\","),
             "weight_map puts \"not.a.tensor\" in model-00001-of-00002.safetensors, which has no such tensor"),
            ("{\"metadata\": {}}", "expected a \"weight_map\" object"),
            (text.replacingOccurrences(of: "model-00001-of-00002.safetensors", with: "../model-00001-of-00002.safetensors"),
             "is not a .safetensors file in the same folder"),
        ]
        for (contents, fragment) in cases {
            try Data(contents.utf8).write(to: index)
            do {
                _ = try PipelineModels.load(from: copy, variant: "fp16")
                Issue.record("loaded with a broken index: \(fragment)")
            } catch let error as WeightsError {
                #expect(error.description.hasPrefix(index.path + ": "), "\(error)")
                #expect(error.description.contains(fragment), "\(error)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    static func removeFromIndex(_ url: URL, key: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var map = try #require(object["weight_map"] as? [String: String])
        map[key] = nil
        object["weight_map"] = map
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    static func shard(of key: String, index: URL) throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any]
        return (object?["weight_map"] as? [String: String])?[key]
    }
}
