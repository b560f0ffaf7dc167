import Diffusion
import Foundation
import Testing

@Suite struct GenerateCommandTests {
    static let pipelines = WorkbenchRun.repositoryRoot.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines")

    @Test func writesTheImageDiffusersMakesWithItsParameters() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try WorkbenchRun(["generate", "--model", Self.pipelines.appendingPathComponent("sd1").path,
                                    "--prompt", "a cat painting", "--negative", "a dog", "--steps", "10", "--guidance", "5",
                                    "--size", "32", "--seed", "42", "--scheduler", "dpmpp-2m", "--out", out.path])
        #expect(run.status == 0, "\(run.standardError)")
        let (image, text) = try PNGFile.read(from: out)
        // diffusers' float image for the same call, rounded as its numpy_to_pil rounds.
        let golden = try WeightFile.open(Self.pipelines.appendingPathComponent("sd1/images.safetensors"))
        let expected = try golden.floats("dpmpp-2m").map { Int(($0 * 255).rounded()) }
        #expect(image.width == 32 && image.height == 32)
        let worst = zip(image.pixels, expected).map { abs(Int($0) - $1) }.max() ?? .max
        #expect(worst <= 1, "largest pixel difference \(worst)")
        #expect(text.first?.key == "parameters")
        #expect(text.first?.value == "a cat painting\nNegative prompt: a dog\nSteps: 10, Sampler: dpmpp-2m, CFG scale: 5.0, Seed: 42, Size: 32x32, Model: sd1")
    }

    /// `--precision bf16` runs the products in bf16: the image stays close to diffusers' fp32 one, though
    /// further from it than our fp32 image is, and the PNG says how it was made.
    @Test func bfloat16GenerationStaysCloseToFP32() throws {
        let golden = try WeightFile.open(Self.pipelines.appendingPathComponent("sd1/images.safetensors"))
        let expected = try golden.floats("dpmpp-2m").map { Int(($0 * 255).rounded()) }
        var meanDifference: [ComputePrecision: Double] = [:]
        for precision in ComputePrecision.allCases {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString).png")
            defer { try? FileManager.default.removeItem(at: out) }
            let run = try WorkbenchRun(["generate", "--model", Self.pipelines.appendingPathComponent("sd1").path,
                                        "--prompt", "a cat painting", "--negative", "a dog", "--steps", "10",
                                        "--guidance", "5", "--size", "32", "--seed", "42", "--scheduler", "dpmpp-2m",
                                        "--precision", precision.rawValue, "--out", out.path])
            #expect(run.status == 0, "\(run.standardError)")
            let (image, text) = try PNGFile.read(from: out)
            let differences = zip(image.pixels, expected).map { abs(Int($0) - $1) }
            meanDifference[precision] = Double(differences.reduce(0, +)) / Double(differences.count)
            #expect((differences.max() ?? .max) <= (precision == .fp32 ? 1 : 16), "\(precision): largest \(differences.max() ?? -1)")
            let suffix = precision == .fp32 ? ", Model: sd1" : ", Model: sd1, Precision: bf16"
            #expect(text.first?.value.hasSuffix(suffix) == true, "\(text)")
        }
        let (fp32, bf16) = (meanDifference[.fp32] ?? .nan, meanDifference[.bf16] ?? .nan)
        #expect(bf16 <= 2 && bf16 > fp32, "mean pixel difference from diffusers: bf16 \(bf16), fp32 \(fp32)")
    }

    @Test func appliesAMembraneAtAStrengthAsDiffusersDoes() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: out) }
        let membrane = Self.pipelines.appendingPathComponent("sd1-membrane.safetensors").path
        let run = try WorkbenchRun(["generate", "--model", Self.pipelines.appendingPathComponent("sd1").path,
                                    "--prompt", "a cat painting", "--negative", "a dog", "--steps", "10", "--guidance", "5",
                                    "--size", "32", "--seed", "42", "--scheduler", "euler",
                                    "--membrane", "\(membrane):0.5", "--out", out.path])
        #expect(run.status == 0, "\(run.standardError)")
        let (image, text) = try PNGFile.read(from: out)
        let golden = try WeightFile.open(Self.pipelines.appendingPathComponent("sd1-membrane-images.safetensors"))
        let expected = try golden.floats("strength-0.5").map { Int(($0 * 255).rounded()) }
        let worst = zip(image.pixels, expected).map { abs(Int($0) - $1) }.max() ?? .max
        #expect(worst <= 1, "largest pixel difference \(worst)")
        // The file names no concept, so transport leaves it at its weight.
        #expect(text.first?.value.hasSuffix(", Membranes: sd1-membrane:0.5, Transport: embeddings, Gates: 0.500") == true, "\(text)")
        let wrongModel = try WorkbenchRun(["generate", "--model", Self.pipelines.appendingPathComponent("sdxl").path,
                                           "--prompt", "x", "--steps", "1", "--membrane", membrane, "--out", out.path + ".x"])
        #expect(wrongModel.status == 1 && wrongModel.standardError.split(separator: "\n").count == 1, "\(wrongModel.standardError)")
    }

    /// A folder with fp16 and bf16 weights and no full precision: generate asks for a choice, then uses it.
    @Test func precisionVariantIsChosenWithVariant() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: out) }
        let model = Self.pipelines.appendingPathComponent("sd1-variants").path
        let arguments = ["generate", "--model", model, "--prompt", "a cat", "--steps", "2", "--size", "32", "--out", out.path]
        let ambiguous = try WorkbenchRun(arguments)
        #expect(ambiguous.status == 1 && ambiguous.standardError.split(separator: "\n").count == 1)
        #expect(ambiguous.standardError.hasSuffix("variants bf16, fp16: choose one (--variant)\n"), "\(ambiguous.standardError)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let chosen = try WorkbenchRun(arguments + ["--variant", "bf16"])
        #expect(chosen.status == 0, "\(chosen.standardError)")
        #expect(!chosen.standardError.contains("note:"), "a clean load prints no load note")
        #expect(try PNGFile.read(from: out).image.width == 32)
    }

    @Test func badInputGetsOneLineAndNoFile() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString).png")
        let missing = try WorkbenchRun(["generate", "--model", "/no/such/model", "--prompt", "x", "--out", out.path])
        #expect(missing.status == 1 && missing.standardError == "error: /no/such/model: cannot read: no such file or folder\n")
        let pickle = try WorkbenchRun(["generate", "--model", "model.ckpt", "--prompt", "x", "--out", out.path])
        #expect(pickle.status == 1 && pickle.standardError.split(separator: "\n").count == 1)
        let badSize = try WorkbenchRun(["generate", "--model", Self.pipelines.appendingPathComponent("sd1").path,
                                        "--prompt", "x", "--size", "24", "--steps", "1", "--out", out.path])
        #expect(badSize.status == 1 && badSize.standardError == "error: size 24×24: width and height must be positive multiples of 16\n")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
