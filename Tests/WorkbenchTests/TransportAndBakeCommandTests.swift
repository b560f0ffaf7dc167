import Diffusion
import Foundation
import Testing

/// `generate --explain` / `--transport` and `bake` through the built binary.
@Suite struct TransportAndBakeCommandTests {
    private let kohya = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-lora-kohya.safetensors").path
    private let research = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1-spm-original.safetensors").path
    private let tiny = WorkbenchRun.fixtures.appendingPathComponent("tiny-sd1").path
    private let pipelines = WorkbenchRun.repositoryRoot.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines")

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("transport-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func explainPrintsEachGateOfAMergedMembrane() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let merged = directory.appendingPathComponent("merged.safetensors").path
        let merge = try WorkbenchRun(["merge", research, kohya, "-o", merged, "--unet-config", tiny])
        #expect(merge.status == 0, "\(merge.standardError)")
        let out = directory.appendingPathComponent("out.png").path
        let run = try WorkbenchRun(["generate", "--model", tiny, "--prompt", "a portrait by Picasso", "--steps", "1",
                                    "--membrane", "\(merged):0.8:0.1", "--membrane", research, "--explain", "-o", out])
        #expect(run.status == 0, "\(run.standardError)")
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first == #"gates for "a portrait by Picasso" (transport embeddings):"#)
        // The research slice of the merge (Van Gogh, Picasso), the plain LoRA's slice (no concept: always on), and
        // the research file itself at weight 1 without a floor.
        #expect(lines.dropFirst().prefix(3).map { $0.trimmingCharacters(in: .whitespaces) } == [
            "merged  concept Picasso  similarity 1.000  floor 0.10  weight 0.80  gate 0.800",
            "merged  concept -  similarity -  floor 0.10  weight 0.80  gate 0.800",
            "tiny-sd1-spm-original  concept Picasso  similarity 1.000  floor 0.00  weight 1.00  gate 1.000",
        ], "\(lines)")
        let (_, text) = try PNGFile.read(from: URL(fileURLWithPath: out))
        #expect(text.first?.value.hasSuffix("Membranes: merged:0.8:0.1 tiny-sd1-spm-original:1.0, Transport: embeddings, Gates: 0.800 0.800 1.000") == true,
                "\(text)")

        let off = try WorkbenchRun(["generate", "--model", tiny, "--prompt", "a house", "--steps", "1", "--transport", "off",
                                    "--membrane", "\(research):0.5", "--explain", "-o", out])
        #expect(off.standardOutput.contains("tiny-sd1-spm-original  concept Van Gogh, Picasso  similarity -  floor 0.00  weight 0.50  gate 0.500"),
                "\(off.standardOutput)")
        let bad = try WorkbenchRun(["generate", "--model", tiny, "--prompt", "x", "--transport", "clip", "-o", out])
        #expect(bad.status != 0 && bad.standardError.contains("--transport 'clip'"), "\(bad.standardError)")
    }

    @Test func bakeWritesTheCheckpointAndReportsTheCast() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let single = pipelines.appendingPathComponent("sd1-single-file.safetensors").path
        let membrane = pipelines.appendingPathComponent("sd1-membrane.safetensors").path
        let out = directory.appendingPathComponent("baked.safetensors")
        let run = try WorkbenchRun(["bake", "--model", single, "--config", pipelines.appendingPathComponent("sd1").path,
                                    "--membrane", "\(membrane):0.5", "-o", out.path])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("baked 1 membrane(s) into \(out.path): 192 layers changed in sd1-single-file.safetensors, 654 tensors copied unchanged"),
                "\(run.standardOutput)")
        #expect(run.standardOutput.contains("cast back to F32: 0 layer(s) lost their change; lowest share of changed elements kept 100.0%"),
                "\(run.standardOutput)")
        let metadata = try WeightFile.open(out).metadata["membrane.baked"]
        #expect(metadata == #"[{"title":"sd1-membrane","file":"sd1-membrane","weight":0.5,"concepts":[]}]"#, "\(metadata ?? "")")

        // Bad input: one line, nothing written.
        let failed = directory.appendingPathComponent("failed.safetensors")
        for arguments in [["--membrane", "\(membrane):1:1"], ["--membrane", kohya], []] {
            let bad = try WorkbenchRun(["bake", "--model", single, "--config", pipelines.appendingPathComponent("sd1").path,
                                        "-o", failed.path] + arguments)
            #expect(bad.status == 1 && bad.standardError.split(separator: "\n").count == 1, "\(arguments): \(bad.standardError)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers == ["baked.safetensors"], "\(leftovers)")
    }
}
