import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct TestbedEvaluationTests {
    /// Whether `phrase` occurs in `text` as whole words.
    static func names(_ text: String, _ phrase: String) -> Bool {
        " \(text) ".contains(" \(phrase) ")
    }

    @Test func suiteNamesTheTargetByEveryWordInEveryFrameAndKeepsItOutOfTheRest() {
        for target in [TestbedConcept.colour(.red), .shape(.circle), .texture(.dotted), .character(.smiley)] {
            let suite = TestbedPromptSuite(target: target, otherCount: 60, seed: 5)
            #expect(suite.targetPrompts.count == target.words.count * TestbedTemplate.allCases.count)
            #expect(suite.otherPrompts.count == 60)
            for word in target.words {
                #expect(suite.targetPrompts.filter { Self.names($0.text, word) }.count >= TestbedTemplate.allCases.count)
            }
            for prompt in suite.targetPrompts {
                #expect(prompt.scene.shows(target))
                #expect(target.words.contains { Self.names(prompt.text, $0) }, "\(prompt.text)")
            }
            for prompt in suite.otherPrompts {
                #expect(!prompt.scene.shows(target))
                #expect(!target.words.contains { Self.names(prompt.text, $0) }, "\(prompt.text)")
            }
            #expect(Set(suite.prompts.map(\.seed)).count == suite.prompts.count)
            #expect(TestbedPromptSuite(target: target, otherCount: 60, seed: 5) == suite)
            #expect(TestbedPromptSuite(target: target, otherCount: 60, seed: 6) != suite)
        }
        let repeated = TestbedPromptSuite(target: .shape(.star), repeats: 3, otherCount: 0, seed: 1)
        #expect(repeated.targetPrompts.count == 3 * 3 * TestbedTemplate.allCases.count)
        #expect(Set(repeated.prompts.map(\.text)).count > TestbedTemplate.allCases.count * 3)
    }

    /// A perfect base model (the scene drawn as prompted) and a membrane that recolours the first `erased` target
    /// prompts to blue, and recolours the first `damaged` other prompts green (or yellow if they were green).
    static func generations(suite: TestbedPromptSuite, erased: Int, damaged: Int) -> [TestbedGeneration] {
        var erasedLeft = erased, damagedLeft = damaged
        return suite.prompts.map { prompt in
            let base = prompt.scene.render()
            var changed = prompt.scene
            if prompt.namesTarget, erasedLeft > 0 {
                changed.colour = .blue
                erasedLeft -= 1
            } else if !prompt.namesTarget, damagedLeft > 0 {
                changed.colour = changed.colour == .green ? .yellow : .green
                damagedLeft -= 1
            }
            return TestbedGeneration(prompt: prompt, base: base, withMembrane: changed.render())
        }
    }

    @Test func scoresHandMadeGenerationsAsExpected() throws {
        let suite = TestbedPromptSuite(target: .colour(.red), otherCount: 40, seed: 12)
        let generations = Self.generations(suite: suite, erased: 12, damaged: 10)
        let report = try TestbedErasureReport(target: .colour(.red), generations: generations)
        let targetCount = suite.targetPrompts.count
        #expect(report.targetPromptCount == targetCount && report.otherPromptCount == 40)
        #expect(report.erasureRate == Double(12) / Double(targetCount))
        #expect(report.baseTargetPresence == 1)
        #expect(report.baseAccuracy == 1)
        // The first 12 target prompts are erased: the suite's first word ("red") fills 7 of them, "crimson" 5.
        let frames = TestbedTemplate.allCases.count
        #expect(report.words.map(\.word) == ["red", "crimson", "scarlet"])
        #expect(report.words.map(\.promptCount) == [frames, frames, frames])
        #expect(report.words.map(\.erasureRate) == [1, Double(12 - frames) / Double(frames), 0])
        // Only the colour changed on 10 of 40 other prompts: colour accuracy 30/40, the mean over four attributes
        // 1 − 10/160.
        #expect(report.attributes.first { $0.kind == .colour }?.withMembrane == 0.75)
        #expect(report.attributes.first { $0.kind == .shape }?.withMembrane == 1)
        #expect(abs(report.membraneAccuracy - (1 - 10.0 / 160)) < 1e-12, "\(report.attributes)")
        #expect(abs((report.preservation ?? 0) - (1 - 10.0 / 160)) < 1e-12)
        // Drift, counted independently: every channel of every other prompt's pair.
        var total = 0.0
        for generation in generations where !generation.prompt.namesTarget {
            for index in generation.base.pixels.indices {
                total += abs(Double(generation.base.pixels[index]) - Double(generation.withMembrane.pixels[index])) / 255
            }
        }
        #expect(abs(report.pixelDrift - total / Double(40 * 32 * 32 * 3)) < 1e-12)
        #expect(report.pixelDrift > 0)
    }

    @Test func anUntouchedModelErasesNothingAndDriftsNot() throws {
        let suite = TestbedPromptSuite(target: .shape(.triangle), otherCount: 20, seed: 3)
        let report = try TestbedErasureReport(target: .shape(.triangle),
                                              generations: Self.generations(suite: suite, erased: 0, damaged: 0))
        #expect(report.erasureRate == 0)
        #expect(report.preservation == 1)
        #expect(report.pixelDrift == 0)
    }

    @Test func blankMembraneImagesEraseEverythingAndPreserveNothing() throws {
        let suite = TestbedPromptSuite(target: .character(.smiley), otherCount: 10, seed: 4)
        let blank = RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 245, count: 32 * 32 * 3))
        let generations = suite.prompts.map { TestbedGeneration(prompt: $0, base: $0.scene.render(), withMembrane: blank) }
        let report = try TestbedErasureReport(target: .character(.smiley), generations: generations)
        #expect(report.erasureRate == 1)
        // A blank image still "agrees" on no texture and no character: half of the four attributes, for the
        // prompts whose scenes have neither.
        let plainShare = Double(suite.otherPrompts.filter { $0.scene.texture == nil }.count) / 10
        #expect(report.attributes.first { $0.kind == .texture }?.withMembrane == plainShare)
        #expect(report.attributes.first { $0.kind == .colour }?.withMembrane == 0)
        #expect(report.attributes.first { $0.kind == .character }?.withMembrane == 1)
    }

    @Test func tableAndJSONCarryTheFigures() throws {
        let suite = TestbedPromptSuite(target: .colour(.red), otherCount: 8, seed: 1)
        let report = try TestbedErasureReport(target: .colour(.red),
                                              generations: Self.generations(suite: suite, erased: 6, damaged: 2))
        let table = report.table
        #expect(table.contains("Erasure of \"red\" (colour) on the testbed"))
        #expect(table.contains(String(format: "erasure rate %5.1f%%", 100 * report.erasureRate)))
        #expect(table.contains("preservation  93.8%"))
        #expect(table.contains("named \"scarlet\" (7)"))
        #expect(table.contains(String(format: "pixel drift on other prompts: %.4f", report.pixelDrift)))
        let json = try report.json()
        #expect(json.contains("\"target\" : \"red\""))
        let decoded = try JSONDecoder().decode(TestbedErasureReport.self, from: Data(json.utf8))
        #expect(decoded == report)
    }

    @Test func unusableGenerationsAreRefusedWithOneLine() {
        let suite = TestbedPromptSuite(target: .colour(.red), otherCount: 2, seed: 1)
        let image = suite.prompts[0].scene.render()
        let onlyTargets = suite.targetPrompts.map { TestbedGeneration(prompt: $0, base: image, withMembrane: image) }
        #expect(throws: TestbedError.noOtherPrompts(target: "red")) {
            try TestbedErasureReport(target: .colour(.red), generations: onlyTargets)
        }
        let onlyOthers = suite.otherPrompts.map { TestbedGeneration(prompt: $0, base: image, withMembrane: image) }
        #expect(throws: TestbedError.noTargetPrompts(target: "red")) {
            try TestbedErasureReport(target: .colour(.red), generations: onlyOthers)
        }
        let mismatched = [TestbedGeneration(prompt: suite.otherPrompts[0], base: image,
                                            withMembrane: suite.otherPrompts[0].scene.render(side: 64))]
            + onlyTargets
        do {
            _ = try TestbedErasureReport(target: .colour(.red), generations: mismatched)
            Issue.record("expected an error")
        } catch let error as TestbedError {
            #expect(error.description.contains("32×32") && error.description.contains("64×64"))
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
