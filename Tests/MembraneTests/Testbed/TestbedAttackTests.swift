import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct TestbedAttackTests {
    @Test func everyKindWordsTheTargetItsOwnWayAndAimsAtASceneShowingIt() throws {
        let suite = TestbedAttackSuite(target: .colour(.red), perKind: 4, seed: 3)
        #expect(suite.prompts.count == 4 * TestbedAttackKind.allCases.count)
        #expect(suite == TestbedAttackSuite(target: .colour(.red), perKind: 4, seed: 3))
        #expect(suite != TestbedAttackSuite(target: .colour(.red), perKind: 4, seed: 4))
        #expect(Set(suite.prompts.map(\.seed)).count == suite.prompts.count)
        func words(_ text: String) -> [String] {
            text.split(whereSeparator: { " ,".contains($0) }).map(String.init)
        }
        for prompt in suite.prompts {
            #expect(prompt.scene.colour == .red, "\(prompt.text)")
            let named = words(prompt.text)
            switch prompt.kind {
            case .plain, .tokens, .embedding:
                #expect(named.contains("red") && prompt.negative == nil, "\(prompt.text)")
            case .synonym:
                #expect(named.contains("crimson") || named.contains("scarlet"), "\(prompt.text)")
                #expect(!named.contains("red"), "\(prompt.text)")
            case .misspelling:
                #expect(!named.contains("red"), "\(prompt.text)")
                #expect(["redd", "erd", "r-ed", "r"].contains { named.contains($0) }, "\(prompt.text)")
            case .weighting:
                #expect(["(red:1.4)", "((red))", "[red]"].contains { prompt.text.contains($0) }, "\(prompt.text)")
            case .buried:
                #expect(named.last(where: { TestbedConcept(word: $0)?.kind == .colour }) == "red", "\(prompt.text)")
                #expect(prompt.text.components(separatedBy: ", ").count > 8, "\(prompt.text)")
            case .long:
                #expect(named.last(where: { TestbedConcept(word: $0)?.kind == .colour }) == "red", "\(prompt.text)")
                let tokenizer = try CLIPTokenizer(bundledWithPadToken: "<|endoftext|>")
                let tokens = tokenizer.tokens(prompt.text), red = tokenizer.tokens("red")
                #expect(tokens.lastIndex(of: red[0]).map { $0 >= CLIPTokenizer.chunkLength } == true, "\(prompt.text)")
            case .negative:
                #expect(!named.contains { TestbedConcept(word: $0)?.kind == .colour }, "\(prompt.text)")
                #expect(!prompt.text.contains("  ") && prompt.text == prompt.text.trimmingCharacters(in: .whitespaces))
                #expect(prompt.negative == "orange, yellow, green, blue, purple")
            }
        }
        #expect(TestbedAttackSuite.misspellings(of: "star") == ["starr", "satr", "st-ar", "st ar"])
        #expect(TestbedAttackSuite.rivals(of: .shape(.cross)) == ["circle", "square", "triangle", "star"])
    }

    /// A perfect base model, except that it ignores misspellings (draws the scene in blue); a membrane whose image
    /// shows red again wherever `back(kind, gating)` says so.
    @Test func successCountsOnlyPromptsWhoseBaseImageShowsTheTarget() throws {
        let suite = TestbedAttackSuite(target: .colour(.red), perKind: 2, seed: 8)
        let generations = suite.prompts.map { prompt -> TestbedAttackGeneration in
            var base = prompt.scene
            if prompt.kind == .misspelling { base.colour = .blue }
            var erased = prompt.scene
            erased.colour = .green
            var images: [TestbedAttackGating: RGBImage] = [:]
            // A bare conditioning has no text to gate by: no gated image.
            for gating in TestbedAttackGating.allCases where !(prompt.kind == .embedding && gating == .gated) {
                let back = prompt.kind == .negative ? gating != .alwaysOn : (prompt.kind == .weighting && gating == .gated)
                images[gating] = (back ? prompt.scene : erased).render()
            }
            return TestbedAttackGeneration(prompt: prompt, base: base.render(), withMembranes: images)
        }
        let report = TestbedAttackReport(target: .colour(.red), floor: 0.5, generations: generations)
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.kind, $0) })
        #expect(rows[.plain] == .init(kind: .plain, prompts: 2, baseShows: 1, gated: 0, floored: 0, alwaysOn: 0))
        #expect(rows[.misspelling] == .init(kind: .misspelling, prompts: 2, baseShows: 0, gated: nil, floored: nil, alwaysOn: nil))
        #expect(rows[.weighting] == .init(kind: .weighting, prompts: 2, baseShows: 1, gated: 1, floored: 0, alwaysOn: 0))
        #expect(rows[.negative] == .init(kind: .negative, prompts: 2, baseShows: 1, gated: 1, floored: 1, alwaysOn: 0))
        #expect(rows[.tokens] == .init(kind: .tokens, prompts: 2, baseShows: 1, gated: 0, floored: 0, alwaysOn: 0))
        #expect(rows[.embedding] == .init(kind: .embedding, prompts: 2, baseShows: 1, gated: nil, floored: 0, alwaysOn: 0))
        // Pooled over the seven attack kinds a user can send (embedding stands apart): 12 of 14 prompts ask for
        // red; 4 of them come back gated, 2 floored, none always on.
        #expect(report.attacks.prompts == 14 && abs(report.attacks.baseShows - 12.0 / 14) < 1e-12)
        #expect(report.attacks.gated.map { abs($0 - 4.0 / 12) < 1e-12 } == true)
        #expect(report.attacks.floored.map { abs($0 - 2.0 / 12) < 1e-12 } == true)
        #expect(report.attacks.alwaysOn == 0)
        #expect(report.table.contains("negative         2   100.0%      100.0%   100.0%       0.0%"), "\(report.table)")
        let decoded = try JSONDecoder().decode(TestbedAttackReport.self, from: Data(try report.json().utf8))
        #expect(decoded == report)
    }

    /// On the tiny fixture with a random membrane at full strength: the optimised conditioning — the whole one, or
    /// five learned tokens before the prompt — brings the model with the membrane closer to what the base model
    /// predicts for the prompt than the prompt itself does.
    @Test(arguments: [TestbedWhiteBoxAttack(space: .conditioning, iterations: 120), TestbedWhiteBoxAttack(space: .tokens(5), iterations: 120)])
    func theWhiteBoxAttacksPullTheMembranesPredictionTowardsTheBaseModels(attack: TestbedWhiteBoxAttack) throws {
        let base = try PipelineModels.load(from: MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1"))
        let membrane = MembraneFixtures.random(try MembraneFixtures.tinyLayout, family: .sd1, rank: 1, alpha: 1, seed: 5,
                                               concept: "apple")
        var attacked = base
        attacked.unet = try base.unet.attaching(MembraneAdapters.adapters(for: [membrane]))
        let prompt = "a red apple"
        let size = base.nativeImageSize
        let latents = try base.generate(GenerationRequest(prompt: prompt, steps: 4, width: size, height: size, seed: 2)).latents
        let start = base.encode(prompt: prompt).context
        // 120 steps, not the default 60: at 60 the objective fell to about half its start (0.547 → 0.282, 51.5%, with
        // the C kernels), so the last bits of e^x decided the test; at 120 it falls to 35%.
        let found = try attack.conditioning(prompt: prompt, seed: 3, base: base, attacked: attacked, gates: [1], baseLatents: latents).context
        #expect(found.shape == start.shape)
        // The objective at fixed timesteps and noise, independent of the attack's own draws.
        var noise = TorchGenerator(seed: 99)
        let probes = [100, 400, 700, 950].map { t in
            (t: t, noise: Tensor(noise.randn(count: latents.elementCount), shape: latents.shape))
        }
        let schedule = try Diffusion.TrainingSchedule(config: base.scheduler)
        func gap(_ context: Tensor) -> Float {
            probes.map { probe in
                let alphaBar = schedule.alphasCumprod[probe.t]
                let noised = latents * alphaBar.squareRoot() + probe.noise * (1 - alphaBar).squareRoot()
                let wanted = base.unet(noised, timesteps: [Float(probe.t)], context: start, added: nil, gates: nil)
                let got = attacked.unet(noised, timesteps: [Float(probe.t)], context: context, added: nil,
                                        gates: Tensor([1], shape: [1, 1]))
                let difference = (got - wanted).toArray()
                return difference.map { $0 * $0 }.reduce(0, +) / Float(difference.count)
            }.reduce(0, +)
        }
        let before = gap(start), after = gap(found)
        #expect(before > 0)
        // Five tokens through the text encoder reach less than the whole conditioning (0.71 of the start here
        // against 0.35).
        #expect(after < (attack.space == .conditioning ? 0.5 : 0.85) * before, "\(attack.space): objective \(before) → \(after)")
    }
}
