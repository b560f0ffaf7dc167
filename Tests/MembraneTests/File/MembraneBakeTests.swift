import Diffusion
import Foundation
import Testing
@testable import Membrane
import TestSupport

/// Baking membranes into checkpoints: untouched bytes identical, the baked weights W + Σ g·ΔW by an independent
/// sum, the baked model's UNet equal to the adapter-attached model's, and the cast check.
@Suite struct MembraneBakeTests {
    static let pipelines = MembraneFixtures.repository.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines")
    static let singleFile = pipelines.appendingPathComponent("sd1-single-file.safetensors")
    static let sd1 = pipelines.appendingPathComponent("sd1")

    static func unetOutputs(_ unet: UNet2DConditionModel, gates: [Float]? = nil) -> [Float] {
        var generator = SplitMix64(seed: 4)
        let channels = unet.configuration.inChannels, width = unet.configuration.crossAttentionDim
        let sample = Tensor(generator.floats(2 * channels * 16 * 16), shape: [2, channels, 16, 16])
        let context = Tensor(generator.floats(2 * 77 * width), shape: [2, 77, width])
        return unet(sample, timesteps: [100, 700], context: context,
                    gates: gates.map { Tensor($0 + $0, shape: [2, $0.count]) }).toArray()
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    @Test func singleFileKeepsEveryOtherByteAndMatchesTheAttachedModel() throws {
        let original = try PipelineModels.load(from: Self.singleFile, configFolder: Self.sd1)
        let layout = MembraneLayout(unet: original.unet.configuration)
        let membrane = try MembraneFile.read(Self.pipelines.appendingPathComponent("sd1-membrane.safetensors"), layout: layout)
        let adapters = MembraneAdapters.adapters(for: [membrane])
        let folder = try MembraneFixtures.temporaryDirectory("bake")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("baked.safetensors")
        let report = try MembraneBake.bake(model: Self.singleFile, adapters: adapters, gates: [0.7], record: #"["sd1-membrane"]"#, to: out)

        let input = try WeightFile.open(Self.singleFile), baked = try WeightFile.open(out)
        #expect(report.layers.count == 192 && report.untouchedTensors == input.tensors.count - 192)
        #expect(report.layers.allSatisfy { $0.affected > 0 && $0.survived == $0.affected && $0.dtype == .f32 })
        #expect(baked.tensors == input.tensors, "names, dtypes, shapes and data offsets unchanged")
        #expect(baked.metadata == [MembraneBake.metadataKey: #"["sd1-membrane"]"#])
        let bakedTensors = Dictionary(uniqueKeysWithValues: report.layers.map { ($0.tensor, $0.layer) })
        for tensor in input.tensors {
            guard let layer = bakedTensors[tensor.name] else {
                #expect(try baked.bytes(tensor.name) == input.bytes(tensor.name), "\(tensor.name) untouched")
                continue
            }
            // W + 0.7·(α/r)·U·D, the product by the textbook loop in Double.
            let expected = zip(try input.floats(tensor.name), MembraneFixtures.delta(membrane.layers[layer]!))
                .map { Float(Double($0) + 0.7 * $1) }
            #expect(Self.maxDifference(try baked.floats(tensor.name), expected) <= 1e-6, "\(tensor.name)")
        }

        let reloaded = try PipelineModels.load(from: out, configFolder: Self.sd1)
        let attached = try original.unet.attaching(adapters)
        let difference = Self.maxDifference(Self.unetOutputs(reloaded.unet), Self.unetOutputs(attached, gates: [0.7]))
        #expect(difference <= 1e-4, "baked vs attached UNet: \(difference)")
        #expect(Self.maxDifference(Self.unetOutputs(reloaded.unet), Self.unetOutputs(original.unet)) > 1e-3)
    }

    @Test func diffusersFolderCopiesEveryOtherFileAndMatchesTheAttachedModel() throws {
        let model = MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1")
        let original = try PipelineModels.load(from: model)
        let layout = try MembraneFixtures.tinyLayout
        let a = MembraneFixtures.random(layout, family: .testbed, rank: 1, alpha: 1, seed: 31, concept: "a")
        let b = MembraneFixtures.random(layout, family: .testbed, rank: 2, alpha: 2, seed: 32, concept: "b", limit: 20)
        let adapters = MembraneAdapters.adapters(for: [a, b])
        let gates: [Float] = [0.2, -0.1]
        let folder = try MembraneFixtures.temporaryDirectory("bake-folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("baked")
        let report = try MembraneBake.bake(model: model, adapters: adapters, gates: gates, record: "[]", to: out)
        #expect(report.bakedFiles == ["unet/diffusion_pytorch_model.safetensors"] && report.layers.count == layout.modules.count)

        let manager = FileManager.default
        let files = try manager.subpathsOfDirectory(atPath: model.path).filter {
            var isDirectory: ObjCBool = false
            return manager.fileExists(atPath: model.appendingPathComponent($0).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
        #expect(Set(try manager.subpathsOfDirectory(atPath: out.path)) == Set(try manager.subpathsOfDirectory(atPath: model.path)))
        for file in files where file != "unet/diffusion_pytorch_model.safetensors" {
            #expect(try Data(contentsOf: out.appendingPathComponent(file)) == Data(contentsOf: model.appendingPathComponent(file)), "\(file)")
        }
        let inputUNet = try WeightFile.open(model.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        let bakedUNet = try WeightFile.open(out.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        let touched = Set(report.layers.map(\.tensor))
        for tensor in inputUNet.tensors where !touched.contains(tensor.name) {
            #expect(try bakedUNet.bytes(tensor.name) == inputUNet.bytes(tensor.name), "\(tensor.name)")
        }
        let reloaded = try PipelineModels.load(from: out)
        let attached = try original.unet.attaching(adapters)
        let difference = Self.maxDifference(Self.unetOutputs(reloaded.unet), Self.unetOutputs(attached, gates: gates))
        #expect(difference <= 1e-4, "baked vs attached UNet: \(difference)")

        // A folder is never written over.
        #expect(throws: BakeError.outputExists(path: out.path)) {
            try MembraneBake.bake(model: model, adapters: adapters, gates: gates, record: "[]", to: out)
        }
    }

    @Test func sgmNamedSDXLCheckpointIsBakedLayerByLayer() throws {
        // The tiny SDXL UNet as a single file in SGM names (what SDXL/Pony/Illustrious checkpoints use).
        let sdxl = Self.pipelines.appendingPathComponent("sdxl")
        let unet = try WeightFile.open(sdxl.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        let layout = try MembraneLayout(unetConfigAt: sdxl)
        let upAttention = layout.upLevelHasAttention
        func sgmName(_ key: String) -> String? {
            SingleFileKeyMap.singleFileUNetKey(fromDiffusers: key) { upAttention.indices.contains($0) && upAttention[$0] }
                .map { "model.diffusion_model." + $0 }
        }
        let entries = try unet.tensors.compactMap { tensor -> SafetensorsEntry? in
            guard let name = sgmName(tensor.name) else { return nil }
            return SafetensorsEntry(name: name, dtype: tensor.dtype, shape: tensor.shape, bytes: try unet.bytes(tensor.name))
        }
        #expect(entries.count == unet.tensors.count)
        let folder = try MembraneFixtures.temporaryDirectory("bake-sgm")
        defer { try? FileManager.default.removeItem(at: folder) }
        let single = folder.appendingPathComponent("sdxl.safetensors")
        try SafetensorsWriter.write(entries, to: single)
        let membrane = MembraneFixtures.random(layout, family: .sdxl, rank: 2, alpha: 1, seed: 41, concept: "x")
        let out = folder.appendingPathComponent("baked.safetensors")
        let report = try MembraneBake.bake(model: single, adapters: MembraneAdapters.adapters(for: [membrane]), gates: [0.5],
                                           record: "[]", to: out)
        #expect(report.layers.count == layout.modules.count && report.untouchedTensors == entries.count - layout.modules.count)
        let baked = try WeightFile.open(out)
        for module in layout.modules {
            let key = try #require(sgmName(module.path + ".weight"))
            let expected = zip(try unet.floats(module.path + ".weight"), MembraneFixtures.delta(membrane.layers[module.path]!))
                .map { Float(Double($0) + 0.5 * $1) }
            #expect(Self.maxDifference(try baked.floats(key), expected) <= 1e-6, "\(key)")
        }
    }

    @Test func linkedFilesOfACacheSnapshotAreCopiedAsFiles() throws {
        // A Hugging Face cache snapshot: every file a symbolic link to a blob.
        let model = MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1")
        let folder = try MembraneFixtures.temporaryDirectory("bake-links")
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot")
        let manager = FileManager.default
        var files: [String] = []
        for path in try manager.subpathsOfDirectory(atPath: model.path) {
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: model.appendingPathComponent(path).path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                try manager.createDirectory(at: snapshot.appendingPathComponent(path), withIntermediateDirectories: true)
            } else {
                files.append(path)
                try manager.createSymbolicLink(at: snapshot.appendingPathComponent(path), withDestinationURL: model.appendingPathComponent(path))
            }
        }
        let layout = try MembraneFixtures.tinyLayout
        let adapters = MembraneAdapters.adapters(for: [MembraneFixtures.random(layout, family: .testbed, rank: 1, alpha: 1, seed: 3, concept: "a")])
        let out = folder.appendingPathComponent("baked")
        _ = try MembraneBake.bake(model: snapshot, adapters: adapters, gates: [1], record: "[]", to: out)
        for path in files {
            let attributes = try manager.attributesOfItem(atPath: out.appendingPathComponent(path).path)
            #expect(attributes[.type] as? FileAttributeType == .typeRegular, "\(path)")
        }
        #expect(try Data(contentsOf: out.appendingPathComponent("vae/config.json")) == Data(contentsOf: model.appendingPathComponent("vae/config.json")))
    }

    @Test func theCastCheckReportsChangesThatRoundAway() throws {
        // The single-file golden stored in fp16.
        let input = try WeightFile.open(Self.singleFile)
        let entries = try input.tensors.map { tensor in
            let values = try input.floats(tensor.name)
            return try #require(SafetensorsEntry(name: tensor.name, floats: values, shape: tensor.shape, as: .f16))
        }
        let folder = try MembraneFixtures.temporaryDirectory("bake-f16")
        defer { try? FileManager.default.removeItem(at: folder) }
        let half = folder.appendingPathComponent("half.safetensors")
        try SafetensorsWriter.write(entries, to: half)
        let layout = try MembraneLayout(unetConfigAt: Self.sd1)
        let membrane = try MembraneFile.read(Self.pipelines.appendingPathComponent("sd1-membrane.safetensors"), layout: layout)
        let adapters = MembraneAdapters.adapters(for: [membrane])

        let strong = try MembraneBake.bake(model: half, adapters: adapters, gates: [1], record: "[]", to: folder.appendingPathComponent("strong.safetensors"))
        #expect(strong.layers.allSatisfy { $0.dtype == .f16 && !$0.vanished && $0.survivingShare > 0.5 })
        let faint = try MembraneBake.bake(model: half, adapters: adapters, gates: [1e-7], record: "[]", to: folder.appendingPathComponent("faint.safetensors"))
        #expect(faint.layers.count == 192 && faint.layers.allSatisfy(\.vanished))
        // The stored values are the fp16 rounding of the fp32 sum.
        let baked = try WeightFile.open(folder.appendingPathComponent("strong.safetensors"))
        let layer = try #require(strong.layers.first)
        let sum = zip(try WeightFile.open(half).floats(layer.tensor), MembraneFixtures.delta(membrane.layers[layer.layer]!)).map { $0 + Float($1) }
        #expect(try baked.bytes(layer.tensor) == ElementType.f16.encode(sum))
    }

    @Test func badInputsWriteNothing() throws {
        let folder = try MembraneFixtures.temporaryDirectory("bake-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out.safetensors")
        let wrongLayer = LowRankAdapter(down: Tensor.zeros([1, 8]), up: Tensor.zeros([8, 1]), gateOfRank: [0])
        #expect(throws: BakeError.missingLayer(file: Self.singleFile.path, layer: "down_blocks.7.attentions.0.proj_in")) {
            try MembraneBake.bake(model: Self.singleFile, adapters: ["down_blocks.7.attentions.0.proj_in": wrongLayer], gates: [1], record: "[]", to: out)
        }
        let wrongShape = LowRankAdapter(down: Tensor.zeros([1, 5]), up: Tensor.zeros([8, 1]), gateOfRank: [0])
        #expect(throws: BakeError.self) {
            try MembraneBake.bake(model: Self.singleFile, adapters: ["down_blocks.0.attentions.0.proj_in": wrongShape], gates: [1], record: "[]", to: out)
        }
        #expect(throws: BakeError.outputIsInput(path: Self.singleFile.path)) {
            try MembraneBake.bake(model: Self.singleFile, adapters: [:], gates: [], record: "[]", to: Self.singleFile)
        }
        #expect(throws: BakeError.notACheckpoint(file: Self.pipelines.appendingPathComponent("sd1-membrane.safetensors").path)) {
            try MembraneBake.bake(model: Self.pipelines.appendingPathComponent("sd1-membrane.safetensors"), adapters: [:], gates: [], record: "[]", to: out)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}
