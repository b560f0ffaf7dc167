import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct MembraneFileTests {
    private let kohyaFixture = MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors")
    private let researchFixture = MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors")

    @Test func sd1RoundTripWithMetadataAndHash() throws {
        let layout = try #require(try MembraneLayout.bundled(for: .sd1))
        var membrane = MembraneFixtures.random(layout, family: .sd1, rank: 2, alpha: 1, seed: 1, concept: "Van Gogh")
        membrane.trainingConfig = #"{"steps":500}"#
        let directory = try MembraneFixtures.temporaryDirectory("roundtrip")
        let url = directory.appendingPathComponent("van-gogh.safetensors")
        try membrane.write(to: url, layout: layout, date: Date(timeIntervalSince1970: 0))

        let file = try WeightFile.open(url)
        #expect(file.tensors.count == 192 * 3)
        #expect(file.tensors.allSatisfy { $0.dtype == .f32 })
        #expect(file.contains("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"))
        #expect(try file.info("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight").shape == [2, 320, 1, 1])
        #expect(try file.info("lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_0_proj.lora_up.weight").shape == [2560, 2])
        #expect(try file.info("lora_unet_mid_block_attentions_0_proj_out.alpha").shape == [])
        var hasher = SHA256()
        hasher.update(file.dataSection)
        let digest = SHA256.hex(digest: hasher.finalize())
        let metadata = file.metadata
        #expect(metadata["sshs_model_hash"] == digest)
        #expect(metadata["modelspec.hash_sha256"] == "0x" + digest)
        let expected: [String: String] = [
            "ss_network_module": "networks.lora", "ss_network_dim": "2", "ss_network_alpha": "1.0",
            "ss_base_model_version": "sd_v1", "ss_v2": "False", "ss_output_name": "Van Gogh",
            "modelspec.sai_model_spec": "1.0.1", "modelspec.architecture": "stable-diffusion-v1/lora",
            "modelspec.title": "Van Gogh", "modelspec.resolution": "512x512", "modelspec.date": "1970-01-01T00:00:00Z",
            "membrane.format_version": "1", "membrane.family": "\"sd1\"",
            "membrane.concepts": #"[{"name":"Van Gogh","ranks":[0,2]}]"#, "membrane.training_config": #"{"steps":500}"#,
        ]
        for (key, value) in expected { #expect(metadata[key] == value, "\(key)") }
        #expect(metadata["modelspec.usage_hint"]?.contains("gates") == true)
        #expect(Set(metadata.keys).subtracting(expected.keys) == ["sshs_model_hash", "modelspec.hash_sha256", "modelspec.implementation", "modelspec.usage_hint"])

        let read = try MembraneFile.read(url)
        #expect(read.family == .sd1)
        #expect(read.layers == membrane.layers)
        #expect(read.concepts == membrane.concepts)
        #expect(read.trainingConfig == membrane.trainingConfig)
        #expect(read.title == "Van Gogh")
    }

    @Test func sdxlIsWrittenInSGMNamesAndReadInBoth() throws {
        let layout = try #require(try MembraneLayout.bundled(for: .sdxl))
        let membrane = MembraneFixtures.random(layout, family: .sdxl, rank: 1, alpha: 1, seed: 2, concept: "nudity", limit: 60)
        let directory = try MembraneFixtures.temporaryDirectory("sdxl")
        let url = directory.appendingPathComponent("sdxl.safetensors")
        try membrane.write(to: url, layout: layout)
        let file = try WeightFile.open(url)
        #expect(file.contains("lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k.lora_down.weight"))
        #expect(try file.info("lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k.lora_down.weight").shape == [1, 2048])
        #expect(!file.tensorNames.contains { $0.contains("down_blocks") })
        #expect(file.metadata["ss_base_model_version"] == "sdxl_base_v1-0")
        #expect(try MembraneFile.read(url).layers == membrane.layers)

        // The research code's SDXL files use diffusers paths; they read into the same layers.
        let entries = try membrane.kohyaEntries(layout: layout).map { entry in
            let path = try #require(layout.modules.first { module in
                entry.name.hasPrefix(layout.kohyaName(module.path, sgmPaths: true)! + ".") })
            let suffix = entry.name.dropFirst(layout.kohyaName(path.path, sgmPaths: true)!.count)
            return SafetensorsEntry(name: layout.kohyaName(path.path, sgmPaths: false)! + suffix, dtype: entry.dtype, shape: entry.shape, bytes: entry.bytes)
        }
        let diffusersNamed = directory.appendingPathComponent("diffusers-named.safetensors")
        try SafetensorsWriter.write(entries, metadata: ["prompts": "nudity", "rank": "1", "alpha": "1.0"], to: diffusersNamed)
        let imported = try MembraneFile.read(diffusersNamed)
        #expect(imported.family == .sdxl)
        #expect(imported.layers == membrane.layers)
    }

    @Test func readsTheResearchCodeAndKohyaFixtures() throws {
        let layout = try MembraneFixtures.tinyLayout
        let research = try MembraneFile.read(researchFixture, layout: layout)
        #expect(research.family == .sd1)
        #expect(research.layers.count == 40)
        #expect(research.concepts == [MembraneConcept(name: "Van Gogh", ranks: 0..<1), MembraneConcept(name: "Picasso", ranks: 0..<1)])
        // Independent check of one layer's values against the raw tensors.
        let raw = try WeightFile.open(researchFixture)
        let layer = try #require(research.layers["down_blocks.0.attentions.0.proj_in"])
        #expect(layer.down == (try raw.floats("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight")))
        #expect(layer.up == (try raw.floats("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight")))
        let kohya = try MembraneFile.read(kohyaFixture, layout: layout)
        #expect(kohya.concepts.isEmpty)
        #expect(kohya.title == "tiny-sd1-lora")
        // Without the tiny config the SD1.5 shapes refuse it, naming a tensor.
        #expect(throws: MembraneFileError.self) { try MembraneFile.read(researchFixture) }
    }

    /// A copy of the tiny kohya fixture with its tensors changed by `edit`.
    private func brokenFixture(_ name: String, metadata: [String: String]? = nil,
                               _ edit: (inout [SafetensorsEntry]) -> Void) throws -> URL {
        let source = try WeightFile.open(kohyaFixture)
        var entries = try source.tensors.map { SafetensorsEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: try source.bytes($0.name)) }
        edit(&entries)
        let url = try MembraneFixtures.temporaryDirectory("broken").appendingPathComponent(name + ".safetensors")
        try SafetensorsWriter.write(entries, metadata: metadata ?? source.metadata, to: url)
        return url
    }

    private func readError(_ url: URL) throws -> MembraneFileError {
        do {
            _ = try MembraneFile.read(url, layout: try MembraneFixtures.tinyLayout)
        } catch let error as MembraneFileError {
            #expect(error.description.hasPrefix(url.path + ": "))
            #expect(!error.description.contains("\n"))
            return error
        }
        Issue.record("no error for \(url.lastPathComponent)")
        throw MembraneFileError.invalidMerge(problem: "expected an error")
    }

    @Test func badFilesGiveOneLineErrors() throws {
        let q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
        let extra = try brokenFixture("extra") { $0.append(SafetensorsEntry(name: "lora_unet_extra.weight", floats: [1], shape: [1], as: .f32)!) }
        guard case .unknownTensor(_, "lora_unet_extra.weight", _) = try readError(extra) else { Issue.record("extra"); return }
        let textEncoder = try brokenFixture("te") {
            $0.append(SafetensorsEntry(name: "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", floats: [1], shape: [1, 1], as: .f32)!)
        }
        guard case .unknownTensor(_, _, let reason) = try readError(textEncoder), reason.contains("text-encoder") else { Issue.record("te"); return }
        let unpaired = try brokenFixture("unpaired") { $0.removeAll { $0.name == q + ".lora_up.weight" } }
        #expect(try readError(unpaired) == .unpaired(file: unpaired.path, layer: q, missing: "lora_up.weight"))
        let misshaped = try brokenFixture("misshaped") { entries in
            let index = entries.firstIndex { $0.name == q + ".lora_down.weight" }!
            entries[index] = SafetensorsEntry(name: q + ".lora_down.weight", floats: [Float](repeating: 0, count: 9), shape: [1, 9], as: .f32)!
        }
        guard case .misshaped(_, let tensor, [1, 9], _) = try readError(misshaped), tensor == q + ".lora_down.weight" else { Issue.record("shape"); return }
        let rankMismatch = try brokenFixture("rank") { entries in
            let index = entries.firstIndex { $0.name == q + ".lora_up.weight" }!
            entries[index] = SafetensorsEntry(name: q + ".lora_up.weight", floats: [Float](repeating: 0, count: 16), shape: [8, 2], as: .f32)!
        }
        guard case .misshaped(_, _, [8, 2], _) = try readError(rankMismatch) else { Issue.record("rank"); return }
        let nonFinite = try brokenFixture("nan") { entries in
            let index = entries.firstIndex { $0.name == q + ".lora_up.weight" }!
            entries[index] = SafetensorsEntry(name: q + ".lora_up.weight", floats: [1, 2, .nan, 4, 5, 6, 7, 8], shape: [8, 1], as: .f32)!
        }
        #expect(try readError(nonFinite) == .nonFinite(file: nonFinite.path, tensor: q + ".lora_up.weight"))
    }

    /// min_gate and gate_threshold live with each concept: through writing and reading, through a merge (which
    /// records no training config), and — for files written before — taken from the recorded training config.
    @Test func conceptsKeepTheirGateSettings() throws {
        let layout = try MembraneFixtures.tinyLayout
        let folder = try MembraneFixtures.temporaryDirectory("gating")
        var nudity = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 30, concept: "nudity")
        nudity.concepts[0].minGate = 1
        var red = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 31, concept: "red")
        red.concepts[0].gateThreshold = 0.1
        let merged = try MembraneMerge.concatenate([(nudity, 1), (red, 1)], title: "both")
        let url = folder.appendingPathComponent("both.safetensors")
        try merged.write(to: url, layout: layout)
        let read = try MembraneFile.read(url, layout: layout)
        #expect(read.trainingConfig == nil)
        #expect(read.concepts == [MembraneConcept(name: "nudity", ranks: 0..<1, minGate: 1),
                                  MembraneConcept(name: "red", ranks: 1..<2, gateThreshold: 0.1)])
        let metadata = try WeightFile.open(url).metadata["membrane.concepts"] ?? ""
        #expect(metadata.contains(#""gate_threshold":0.1"#), "\(metadata)")

        var older = MembraneFixtures.random(layout, family: .sd1, rank: 1, alpha: 1, seed: 32, concept: "nudity")
        older.trainingConfig = #"{"concepts": [{"target": "nudity", "min_gate": 1.0, "gate_threshold": 0.5}]}"#
        let olderURL = folder.appendingPathComponent("older.safetensors")
        try older.write(to: olderURL, layout: layout)
        #expect(try MembraneFile.read(olderURL, layout: layout).concepts
                == [MembraneConcept(name: "nudity", ranks: 0..<1, minGate: 1, gateThreshold: 0.5)])

        let kohya = try WeightFile.open(kohyaFixture).metadata
        let bad = try brokenFixture("gate", metadata: kohya.merging(
            ["membrane.concepts": #"[{"name": "x", "ranks": [0, 1], "min_gate": 3}]"#]) { $1 }) { _ in }
        #expect(try readError(bad) == .invalidMetadata(file: bad.path, key: "membrane.concepts",
                                                        problem: "min_gate of \"x\" must be a number between 0 and 1"))
    }

    @Test func wrongFamilyAndPicklesAreRefused() throws {
        // An SDXL membrane declared sd1.
        let layout = try #require(try MembraneLayout.bundled(for: .sdxl))
        let membrane = MembraneFixtures.random(layout, family: .sdxl, rank: 1, alpha: 1, seed: 3, concept: "x", limit: 30)
        let directory = try MembraneFixtures.temporaryDirectory("family")
        let url = directory.appendingPathComponent("declared-sd1.safetensors")
        try SafetensorsWriter.write(try membrane.kohyaEntries(layout: layout), metadata: ["ss_base_model_version": "sd_v1"], to: url)
        #expect(throws: MembraneFileError.wrongFamily(file: url.path, declared: .sd1, evidence: "ss_base_model_version=sd_v1", actual: .sdxl)) {
            try MembraneFile.read(url)
        }
        let pickle = directory.appendingPathComponent("membrane.pt")
        try Data([0x80, 0x02, 0x7d, 0x71]).write(to: pickle)
        #expect(throws: WeightsError.pickleRefused(file: pickle.path)) { try MembraneFile.read(pickle) }
    }

    @Test func diffusersExportFoldsTheScale() throws {
        let layout = try MembraneFixtures.tinyLayout
        var membrane = try MembraneFile.read(researchFixture, layout: layout)
        membrane.layers = membrane.layers.mapValues { var layer = $0; layer.alpha = 0.5; return layer }
        let url = try MembraneFixtures.temporaryDirectory("diffusers").appendingPathComponent("pytorch_lora_weights.safetensors")
        try DiffusersLoRAExport.write(membrane, layout: layout, to: url)
        let file = try WeightFile.open(url)
        #expect(file.tensors.count == 80)
        #expect(file.tensorNames.allSatisfy { $0.hasPrefix("unet.") && ($0.hasSuffix(".lora_A.weight") || $0.hasSuffix(".lora_B.weight")) })
        let path = "down_blocks.0.attentions.0.proj_in"
        #expect(try file.info("unet.\(path).lora_A.weight").shape == [1, 8, 1, 1])
        #expect(try file.floats("unet.\(path).lora_B.weight") == membrane.layers[path]!.up.map { $0 * 0.5 })
        #expect(try file.floats("unet.\(path).lora_A.weight") == membrane.layers[path]!.down)
        #expect(file.metadata["format"] == "pt")
        let adapter = try JSONSerialization.jsonObject(with: Data(try #require(file.metadata["lora_adapter_metadata"]).utf8)) as? [String: Any]
        #expect(adapter?["unet.r"] as? Int == 1)
        #expect(adapter?["unet.lora_alpha"] as? Int == 1)
        #expect((adapter?["unet.target_modules"] as? [String])?.count == 40)
    }
}
