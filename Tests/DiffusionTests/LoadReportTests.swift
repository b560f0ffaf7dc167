import Foundation
import Testing
@testable import Diffusion

/// Every load ends in a report; a checking load reads headers only and lists every problem.
@Suite struct LoadReportTests {
    @Test func checkingLoadAgreesWithALoad() throws {
        for url in [PipelineParityTests.folder("sdxl"), PipelineParityTests.folder("sd1-single-file.safetensors")] {
            let configs = url.pathExtension == "safetensors" ? PipelineParityTests.folder("sd1") : nil
            let loaded = try PipelineModels.load(from: url, configFolder: configs).loadReport
            let checked = try PipelineModels.checkLoad(from: url, configFolder: configs)
            #expect(loaded == checked)
            #expect(checked.isComplete && checked.unusedTensors.isEmpty)
            #expect(checked.summary.hasSuffix("0 missing, 0 mis-shaped, 0 unused"), "\(checked.summary)")
        }
        let sdxl = try PipelineModels.checkLoad(from: PipelineParityTests.folder("sdxl"))
        for component in sdxl.components {
            let files = try component.files.map { try WeightFile.open(URL(fileURLWithPath: $0)) }
            #expect(component.appliedTensors == files.reduce(0) { $0 + $1.tensors.count }, "\(component.name)")
            #expect(component.appliedParameters == files.reduce(0) { $0 + $1.parameterCount }, "\(component.name)")
        }
    }

    /// The SD1 file read with SDXL's configs: nothing fits, and the check says so tensor by tensor.
    @Test func checkingLoadListsEveryProblem() throws {
        let report = try PipelineModels.checkLoad(from: PipelineParityTests.folder("sd1-single-file.safetensors"),
                                                  configFolder: PipelineParityTests.folder("sdxl"))
        #expect(!report.isComplete)
        let unet = try #require(report.components.first { $0.name == "unet" })
        #expect(unet.missing.count > 10 && unet.misShaped.count > 10)
        #expect(unet.missing.contains(.missing(source: PipelineParityTests.folder("sd1-single-file.safetensors").path + " (unet)",
                                               key: "add_embedding.linear_1.weight", expectedShape: [32, 80])))
        #expect(report.components.first { $0.name == "text_encoder_2" }?.appliedTensors == 0)
        #expect(!report.unusedTensors.isEmpty)
        #expect(unet.misShaped.allSatisfy { !$0.description.contains("\n") && $0.description.contains("expected [") })
        // A real load of the same stops at the first problem, with the same one line.
        do {
            _ = try PipelineModels.load(from: PipelineParityTests.folder("sd1-single-file.safetensors"),
                                        configFolder: PipelineParityTests.folder("sdxl"))
            Issue.record("SD1 tensors loaded into SDXL's layout")
        } catch let error as LoadError {
            let all = report.components.flatMap { $0.missing + $0.misShaped }
            #expect(all.contains(error), "\(error)")
        }
    }
}
