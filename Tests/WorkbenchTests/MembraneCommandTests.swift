import Diffusion
import Foundation
import Testing

/// `merge` and `export` through the built binary, on the tiny SD1 fixtures.
@Suite struct MembraneCommandTests {
    private let kohya = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors").path
    private let research = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path
    private let tinyConfig = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("membrane-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A one-line error on stderr, status 1, nothing written.
    private func expectFailure(_ arguments: [String], output: URL, mentioning text: String) throws {
        let run = try WorkbenchRun(arguments)
        #expect(run.status == 1, "\(arguments)")
        #expect(run.standardError.hasPrefix("error: "), "\(run.standardError)")
        #expect(run.standardError.split(separator: "\n").count == 1, "\(run.standardError)")
        #expect(run.standardError.contains(text), "\(run.standardError) should mention \(text)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path)
        #expect(leftovers.allSatisfy { !$0.hasPrefix(".") }, "temporary files left: \(leftovers)")
    }

    @Test func mergeConcatenatesAndKeepsConceptSlices() throws {
        let directory = try temporaryDirectory()
        let output = directory.appendingPathComponent("merged.safetensors")
        let run = try WorkbenchRun(["merge", research, kohya, research, "-o", output.path, "--weights", "1,0.5,-2", "--unet-config", tinyConfig])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("merged 3 membrane(s) (sd1) into \(output.path): 40 layers, rank 3"))
        #expect(run.standardOutput.contains("concept Picasso: ranks 2..<3"))
        let file = try WeightFile.open(output)
        #expect(file.tensors.count == 120)
        #expect(file.metadata["ss_network_dim"] == "3")
        #expect(file.metadata["ss_network_alpha"] == "3.0")
        #expect(file.metadata["ss_output_name"] == "merged")
        #expect(file.metadata["modelspec.merged_from"] == "tiny-sd1-spm-original, tiny-sd1-lora, tiny-sd1-spm-original")
        #expect(file.metadata["membrane.concepts"]
                == #"[{"name":"Van Gogh","ranks":[0,1]},{"name":"Picasso","ranks":[0,1]},{"name":"Van Gogh","ranks":[2,3]},{"name":"Picasso","ranks":[2,3]}]"#)

        // ΔW of one layer = Σ w_i·ΔW_i, recomputed here from the raw tensors (α = 1, r = 1 in both inputs).
        let layer = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
        let inputs = try [research, kohya].map { try WeightFile.open(URL(fileURLWithPath: $0)) }
        func delta(_ file: SafetensorsFile, rank: Int) throws -> [Double] {
            let down = try file.floats(layer + ".lora_down.weight"), up = try file.floats(layer + ".lora_up.weight")
            let alpha = Double(try file.floats(layer + ".alpha")[0])
            let inFeatures = down.count / rank, out = up.count / rank
            return (0..<out * inFeatures).map { index in
                (0..<rank).reduce(0.0) { $0 + Double(up[(index / inFeatures) * rank + $1]) * Double(down[$1 * inFeatures + index % inFeatures]) } * alpha / Double(rank)
            }
        }
        let researchDelta = try delta(inputs[0], rank: 1), kohyaDelta = try delta(inputs[1], rank: 1)
        let expected = zip(researchDelta, kohyaDelta).map { 1 * $0 + 0.5 * $1 - 2 * $0 }
        let merged = try delta(file, rank: 3)
        let worst = zip(merged, expected).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1e-6 * max(expected.map(abs).max() ?? 1, 1e-6))
    }

    @Test func mergeCompressesAndReportsErrors() throws {
        let directory = try temporaryDirectory()
        let output = directory.appendingPathComponent("rank1.safetensors")
        let run = try WorkbenchRun(["merge", research, kohya, "-o", output.path, "--rank", "1", "--unet-config", tinyConfig])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("compressed to rank 1: worst relative error"))
        #expect(run.standardOutput.split(separator: "\n").filter { $0.contains("relative error") && $0.hasPrefix("  ") }.count == 40)
        #expect(try WeightFile.open(output).metadata["ss_network_dim"] == "1")
    }

    @Test func mergeRefusesBadInput() throws {
        let directory = try temporaryDirectory()
        let output = directory.appendingPathComponent("out.safetensors")
        try expectFailure(["merge", research, directory.appendingPathComponent("missing.safetensors").path, "-o", output.path,
                           "--unet-config", tinyConfig], output: output, mentioning: "missing.safetensors")
        try expectFailure(["merge", research, kohya, "-o", output.path, "--weights", "1", "--unet-config", tinyConfig],
                          output: output, mentioning: "--weights has 1 value(s) for 2 membrane(s)")
        try expectFailure(["merge", research, kohya, "-o", output.path, "--weights", "1,x", "--unet-config", tinyConfig],
                          output: output, mentioning: "--weights")
        // Without the tiny config the fixture does not fit SD1.5's shapes.
        try expectFailure(["merge", research, "-o", output.path], output: output, mentioning: research)

        // The same tensors declared SD2: mixed families are refused.
        let source = try WeightFile.open(URL(fileURLWithPath: kohya))
        let entries = try source.tensors.map { SafetensorsEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: try source.bytes($0.name)) }
        let sd2 = directory.appendingPathComponent("sd2.safetensors")
        try SafetensorsWriter.write(entries, metadata: ["ss_base_model_version": "sd_v2", "ss_output_name": "sd2-membrane"], to: sd2)
        try expectFailure(["merge", research, sd2.path, "-o", output.path, "--unet-config", tinyConfig],
                          output: output, mentioning: "different model families")
    }

    @Test func exportWritesKohyaAndDiffusers() throws {
        let directory = try temporaryDirectory()
        let kohyaOut = directory.appendingPathComponent("kohya.safetensors")
        let run = try WorkbenchRun(["export", "--format", "kohya", research, "-o", kohyaOut.path, "--unet-config", tinyConfig])
        #expect(run.status == 0, "\(run.standardError)")
        let written = try WeightFile.open(kohyaOut)
        #expect(Set(written.tensorNames) == Set(try WeightFile.open(URL(fileURLWithPath: research)).tensorNames))
        #expect(written.metadata["membrane.concepts"] == #"[{"name":"Van Gogh","ranks":[0,1]},{"name":"Picasso","ranks":[0,1]}]"#)
        #expect(written.metadata["sshs_model_hash"]?.count == 64)

        let diffusersOut = directory.appendingPathComponent("pytorch_lora_weights.safetensors")
        let second = try WorkbenchRun(["export", "--format", "diffusers", kohyaOut.path, "-o", diffusersOut.path, "--unet-config", tinyConfig])
        #expect(second.status == 0, "\(second.standardError)")
        let diffusers = try WeightFile.open(diffusersOut)
        #expect(diffusers.tensors.count == 80)
        #expect(diffusers.contains("unet.up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_v.lora_B.weight"))
        #expect(diffusers.metadata["format"] == "pt")
    }

    @Test func exportRefusesBadInput() throws {
        let directory = try temporaryDirectory()
        let output = directory.appendingPathComponent("out.safetensors")
        let source = try WeightFile.open(URL(fileURLWithPath: kohya))
        var entries = try source.tensors.map { SafetensorsEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: try source.bytes($0.name)) }
        entries.append(SafetensorsEntry(name: "lora_unet_time_embedding_linear_1.lora_down.weight", floats: [1, 2], shape: [1, 2], as: .f32)!)
        let bad = directory.appendingPathComponent("bad.safetensors")
        try SafetensorsWriter.write(entries, metadata: source.metadata, to: bad)
        try expectFailure(["export", "--format", "diffusers", bad.path, "-o", output.path, "--unet-config", tinyConfig],
                          output: output, mentioning: "lora_unet_time_embedding_linear_1.lora_down.weight")
        let run = try WorkbenchRun(["export", "--format", "onnx", kohya, "-o", output.path])
        #expect(run.status != 0)
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// A testbed membrane needs no --unet-config: the shipped testbed model's config is used. 31 training steps
    /// (the config warms up for 30) make the membrane; merging it with itself at weights 1 and −1 and exporting it
    /// must both succeed.
    @Test func testbedMembranesMergeAndExportWithTheShippedConfig() throws {
        let directory = try temporaryDirectory()
        let membrane = directory.appendingPathComponent("red.safetensors")
        let config = WorkbenchRun.repositoryRoot.appendingPathComponent("configs/testbed/erase-red.yaml").path
        let train = try WorkbenchRun(["train", config, "--iterations", "31", "--out", membrane.path])
        #expect(train.status == 0, "\(train.standardError)")
        let merged = directory.appendingPathComponent("merged.safetensors")
        let merge = try WorkbenchRun(["merge", membrane.path, membrane.path, "--weights", "1,-1", "-o", merged.path])
        #expect(merge.status == 0, "\(merge.standardError)")
        #expect(merge.standardOutput.contains("(testbed)") && merge.standardOutput.contains("rank 2"), "\(merge.standardOutput)")
        let exported = directory.appendingPathComponent("diffusers.safetensors")
        let export = try WorkbenchRun(["export", "--format", "diffusers", membrane.path, "-o", exported.path])
        #expect(export.status == 0, "\(export.standardError)")
        #expect(FileManager.default.fileExists(atPath: merged.path) && FileManager.default.fileExists(atPath: exported.path))
    }
}
