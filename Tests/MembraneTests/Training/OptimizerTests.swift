import Foundation
import Testing
@testable import Membrane

/// The optimizers and learning-rate schedules against PyTorch and diffusers (tools/golden_optimizers.py).
@Suite struct OptimizerTests {
    struct Golden: Decodable {
        struct Run: Decodable { let after: [[[Float]]] }
        let initial: [[Float]]
        let gradients: [[[Float]]]
        let rates: [Float]
        let optimizers: [String: Run]
        let schedules: [String: [Double]]
    }

    static func golden() throws -> Golden {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/optimizer-golden.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }

    @Test(arguments: OptimizerChoice.allCases)
    func updatesMatchPyTorch(kind: OptimizerChoice) throws {
        let golden = try Self.golden()
        var parameters = golden.initial
        var optimizer = Optimizer(kind: kind, weightDecay: 0.01, parameters: parameters)
        let expected = try #require(golden.optimizers[kind.rawValue])
        for (step, gradients) in golden.gradients.enumerated() {
            optimizer.update(&parameters, gradients: gradients, learningRate: golden.rates[step])
            for (ours, theirs) in zip(parameters, expected.after[step]) {
                let error = zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
                #expect(error <= 1e-6, "\(kind) step \(step + 1): max abs error \(error)")
            }
        }
    }

    @Test(arguments: [(LRScheduleChoice.constant, "constant_with_warmup"), (.cosine, "cosine"),
                      (.cosineWithRestarts, "cosine_with_restarts")])
    func learningRatesMatchDiffusers(kind: LRScheduleChoice, name: String) throws {
        let schedule = LearningRateSchedule(base: 1e-3, kind: kind, warmupSteps: 3, totalSteps: 20, restarts: 2)
        let expected = try #require(try Self.golden().schedules[name])
        for (step, rate) in expected.enumerated() {
            #expect(abs(Double(schedule.rate(at: step)) - rate) <= 1e-9, "\(name) step \(step)")
        }
    }

    @Test func clippingScalesToTheLimitAndReportsTheNorm() {
        var gradients: [[Float]] = [[3, 0], [0, 4]]
        let norm = clipGradientNorm(&gradients, maximum: 1)
        #expect(norm == 5)
        #expect(gradients.flatMap { $0 }.map { ($0 * 1e5).rounded() / 1e5 } == [0.6, 0, 0, 0.8])
        var small: [[Float]] = [[0.1]]
        clipGradientNorm(&small, maximum: 1)
        #expect(small == [[0.1]])
    }
}
