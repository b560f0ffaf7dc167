import Diffusion
import Foundation
import Testing
@testable import Membrane

/// Facilitated transport: the reference's similarity against the original code's formula (computed by
/// tools/golden_transport_reference.py with transformers on the tiny SD1 pipeline), the token measure against
/// hand-made embeddings, and the gate rule max(similarity, min_gate) × weight.
@Suite struct FacilitatedTransportTests {
    static let sd1 = MembraneFixtures.repository.appendingPathComponent("Tests/DiffusionTests/Golden/pipelines/sd1")

    /// A text of `states` (one row per position, BOS first) whose content positions are 1…tokens.count.
    static func text(_ states: [[Float]], tokens: [Int32]) -> TransportText {
        TransportText(embedding: states.flatMap { $0 }, width: states[0].count,
                      contentPositions: tokens.indices.map { $0 + 1 }, contentTokens: tokens)
    }

    @Test func referenceScoresMatchTheOriginalCode() throws {
        let models = try PipelineModels.load(from: Self.sd1)
        let data = try Data(contentsOf: MembraneFixtures.fixtures.appendingPathComponent("transport-reference-scores.json"))
        let parsed = try JSONParser.parse(data)
        let cases = try #require(parsed.arrayValue)
        #expect(cases.count == 20)
        for item in cases {
            let prompt = try #require(item["prompt"]?.stringValue), concept = try #require(item["concept"]?.stringValue)
            let (p, c) = (models.transportText(prompt), models.transportText(concept))
            let expectedShare = Float(try #require(item["tokenuni"]?.doubleValue))
            let expectedCosine = Float(try #require(item["clipcos"]?.doubleValue))
            let expected = Float(try #require(item["score"]?.doubleValue))
            #expect(abs(GateSimilarity.tokenShare(prompt: p, concept: c) - expectedShare) <= 1e-6, "\(prompt) / \(concept)")
            #expect(abs(GateSimilarity.cosine(p.embedding[...], c.embedding[...]) - expectedCosine) <= 1e-5, "\(prompt) / \(concept)")
            #expect(abs(GateSimilarity.reference.score(prompt: p, concept: c) - expected) <= 1e-5, "\(prompt) / \(concept)")
        }
    }

    @Test func transportTextIsTheGenerationsConditioningAndItsContentTokens() throws {
        let models = try PipelineModels.load(from: Self.sd1)
        let text = models.transportText("a cat painting")
        let tokens = models.tokenizer.tokens("a cat painting")
        #expect(text.contentPositions == Array(1...tokens.count))
        #expect(text.contentTokens == tokens)
        #expect(text.embedding == models.encode(prompt: "a cat painting").context.contiguous().toArray())
        #expect(text.width == 16 && text.embedding.count == 77 * 16)
        #expect(models.transportText("").contentPositions.isEmpty)
        // The vocabulary vectors are the token embedding table's rows for the content tokens.
        let table = models.textEncoder.tokenEmbedding.weight.contiguous().toArray()
        let width = models.textEncoder.tokenEmbedding.weight.shape[1]
        #expect(text.vectorWidth == width)
        #expect(text.contentVectors == tokens.flatMap { table[(Int($0) * width)..<((Int($0) + 1) * width)] })
    }

    /// A word past the first 75 tokens: cut from the text transport reads when generation truncates, read (at its
    /// row of the windowed conditioning) when generation encodes windows as AUTOMATIC1111 does.
    @Test func transportReadsEveryWindowOfAChunkedPrompt() throws {
        let models = try PipelineModels.load(from: Self.sd1)
        let filler = Array(repeating: "dog", count: 80).joined(separator: " ")  // one token each
        let prompt = filler + " cat"
        let cat = models.tokenizer.tokens("cat")
        #expect(cat.count == 1 && !models.tokenizer.tokens(filler).contains(cat[0]))
        let truncated = models.transportText(prompt)
        #expect(!truncated.contentTokens.contains(cat[0]))
        let chunked = models.transportText(prompt, longPrompts: .chunk)
        #expect(chunked.embedding == models.encode(prompt: prompt, longPrompts: .chunk).context.contiguous().toArray())
        #expect(chunked.contentTokens == models.tokenizer.tokens(prompt))
        let position = try #require(chunked.contentPositions.last)
        #expect(chunked.contentTokens.last == cat[0])
        // 80 filler tokens, then "cat": token 80, the sixth of window 2, after that window's BOS.
        #expect(models.tokenizer.tokens(prompt).count == 81)
        #expect(position == 77 + 1 + 5)
        let concept = models.transportText("cat")
        #expect(GateSimilarity.embeddings.score(prompt: chunked, concept: concept) == 1)
        #expect(GateSimilarity.embeddings.score(prompt: truncated, concept: concept) < 1)
        // The reference measure compares the first window (its tokenizer truncates) and still finds the token.
        #expect(GateSimilarity.reference.score(prompt: chunked, concept: concept) == 1)
    }

    @Test func embeddingMeasureMatchesVocabularyVectorsNotStates() {
        // Output states all alike (as a small encoder's are), vocabulary vectors apart: only the vectors decide.
        let state: [Float] = [1, 1, 1, 1]
        func text(_ vectors: [[Float]], tokens: [Int32]) -> TransportText {
            TransportText(embedding: Array(repeating: state, count: tokens.count + 1).flatMap { $0 }, width: 4,
                          contentPositions: tokens.indices.map { $0 + 1 }, contentTokens: tokens,
                          contentVectors: vectors.flatMap { $0 }, vectorWidth: 3)
        }
        let red = text([[1, 0, 0]], tokens: [10])
        let crimsonSquare = text([[0.9, 0.1, 0], [0, 0, 1]], tokens: [11, 12])
        let blueCircle = text([[0, 1, 0], [0, 0, 1]], tokens: [13, 14])
        #expect(GateSimilarity.tokens.score(prompt: blueCircle, concept: red) == 1)
        #expect(GateSimilarity.embeddings.score(prompt: blueCircle, concept: red) == 0)
        let expected = Float(0.9 / (0.81 + 0.01).squareRoot())
        #expect(abs(GateSimilarity.embeddings.score(prompt: crimsonSquare, concept: red) - expected) < 1e-6)
        // A shared id still gives its share; no vectors at all leave only the share.
        let redSquare = text([[0, 1, 0]], tokens: [10])
        #expect(GateSimilarity.embeddings.score(prompt: redSquare, concept: red) == 1)
        let bare = TransportText(embedding: state + state, width: 4, contentPositions: [1], contentTokens: [13])
        #expect(GateSimilarity.embeddings.score(prompt: bare, concept: red) == 0)
    }

    @Test func tokenMeasureIgnoresBOSAndPadding() {
        // A dominant BOS state shared by every text and identical padding: what makes the reference's cosine high
        // for unrelated texts. The content states are orthogonal.
        let bos: [Float] = [30, 0, 0, 0], pad: [Float] = [0, 0, 0, 5]
        let prompt = Self.text([bos, [0, 1, 0, 0]] + Array(repeating: pad, count: 5), tokens: [7])
        let concept = Self.text([bos, [0, 0, 1, 0]] + Array(repeating: pad, count: 5), tokens: [9])
        #expect(GateSimilarity.reference.score(prompt: prompt, concept: concept) > 0.9)
        #expect(GateSimilarity.tokens.score(prompt: prompt, concept: concept) == 0)
        // The same content state (a paraphrase with other ids) matches fully; half the concept's tokens, half.
        let same = Self.text([bos, [0, 2, 0, 0], [1, 0, 0, 0]] + Array(repeating: pad, count: 4), tokens: [8, 3])
        #expect(abs(GateSimilarity.tokens.score(prompt: same, concept: Self.text([bos, [0, 1, 0, 0]], tokens: [5])) - 1) < 1e-6)
        let twoTokens = Self.text([bos, [0, 1, 0, 0], [0, 0, 1, 0]], tokens: [5, 6])
        #expect(abs(GateSimilarity.tokens.score(prompt: prompt, concept: twoTokens) - 0.5) < 1e-6)
        // Soft match by cosine: [1, 1] against [1, 0] is 1/√2.
        let diagonal = Self.text([bos, [0, 1, 1, 0]], tokens: [4])
        #expect(abs(GateSimilarity.tokens.score(prompt: prompt, concept: diagonal) - Float(0.5).squareRoot()) < 1e-6)
        // The exact token share still counts: a shared id gives at least its share even with unlike states.
        let sharedID = Self.text([bos, [0, 0, 1, 0]], tokens: [7])
        #expect(GateSimilarity.tokens.score(prompt: prompt, concept: sharedID) == 1)
    }

    @Test func gatesAreTheFlooredSimilarityTimesTheWeight() {
        let texts: [String: TransportText] = [
            "snoopy": Self.text([[1, 0, 0], [0, 1, 0]], tokens: [10]),
            "mickey": Self.text([[1, 0, 0], [0, 0, 1]], tokens: [11]),
            "nudity": Self.text([[1, 0, 0], [1, 1, 0]], tokens: [12]),
        ]
        let slots = [MembraneGateSlot(membrane: 0, ranks: 0..<1, concepts: ["snoopy"]),
                     MembraneGateSlot(membrane: 0, ranks: 1..<2, concepts: ["mickey"]),
                     MembraneGateSlot(membrane: 1, ranks: 0..<1, concepts: ["nudity", "mickey"]),
                     MembraneGateSlot(membrane: 2, ranks: 0..<1, concepts: [])]
        let membranes = [FacilitatedTransport.Membrane(name: "characters", weight: 0.8, floors: ["mickey": 0.25]),
                         FacilitatedTransport.Membrane(name: "nsfw", weight: -0.5, defaultFloor: 1),
                         FacilitatedTransport.Membrane(name: "plain", weight: 0.6)]
        var encoded: [String] = []
        let transport = FacilitatedTransport(configuration: TransportConfig(enabled: true, similarity: .tokens),
                                             membranes: membranes, slots: slots, encode: { encoded.append($0); return texts[$0]! })
        #expect(encoded.sorted() == ["mickey", "nudity", "snoopy"])
        // The prompt's one content state is snoopy's.
        let prompt = Self.text([[1, 0, 0], [0, 3, 0]], tokens: [99])
        let (gates, explanations) = transport.gates(for: prompt)
        let nudityScore = Float(0.5).squareRoot()
        #expect(gates.count == 4)
        #expect(abs(gates[0] - 0.8) < 1e-6)                 // similarity 1 × weight 0.8
        #expect(abs(gates[1] - 0.25 * 0.8) < 1e-6)          // similarity 0, floor 0.25
        #expect(abs(gates[2] - -0.5) < 1e-6)                // floor 1 (always on) × weight −0.5
        #expect(gates[3] == 0.6)                            // no concept recorded: always at its weight
        #expect(explanations[2].concept == "nudity" && abs((explanations[2].similarity ?? -1) - nudityScore) < 1e-6)
        #expect(explanations[3].similarity == nil)
        #expect(explanations[1].line == "characters  concept mickey  similarity 0.000  floor 0.25  weight 0.80  gate 0.200")

        // Linear in the weight; with transport off every slot is at its weight and nothing is encoded.
        var doubled = membranes
        doubled[0].weight *= 2
        let twice = FacilitatedTransport(configuration: TransportConfig(enabled: true, similarity: .tokens), membranes: doubled,
                                         slots: slots, encode: { texts[$0]! }).gates(for: prompt).gates
        #expect(abs(twice[0] - 2 * gates[0]) < 1e-6 && abs(twice[1] - 2 * gates[1]) < 1e-6)
        var offEncoded = 0
        let off = FacilitatedTransport(configuration: TransportConfig(enabled: false), membranes: membranes, slots: slots,
                                       encode: { offEncoded += 1; return texts[$0]! })
        #expect(off.gates(for: prompt).gates == [0.8, 0.8, -0.5, 0.6] && offEncoded == 0)
        // Conditioning with no text (an embedding given directly): the floors, or the weights with transport off.
        #expect(transport.gatesWithoutText == [0, Float(0.25) * 0.8, -0.5, 0.6])
        #expect(off.gatesWithoutText == [0.8, 0.8, -0.5, 0.6])
        // Per sample: [batch, slots].
        let other = Self.text([[1, 0, 0], [0, 0, 2]], tokens: [98])
        let batch = transport.gateTensor(for: [prompt, other])
        #expect(batch.shape == [2, 4])
        #expect(Array(batch.toArray()[4...]) == transport.gates(for: other).gates)
    }

    @Test func aScoreBelowItsConceptsThresholdCountsAsZero() throws {
        let texts: [String: TransportText] = [
            "red": Self.text([[1, 0, 0], [1, 0, 0]], tokens: [10]),
            "smiley": Self.text([[1, 0, 0], [0, 1, 0]], tokens: [11]),
        ]
        let slots = [MembraneGateSlot(membrane: 0, ranks: 0..<1, concepts: ["red", "smiley"])]
        func gate(_ prompt: TransportText, thresholds: [String: Float], floor: Float = 0) -> FacilitatedTransport.Explanation {
            let membrane = FacilitatedTransport.Membrane(name: "m", weight: 0.5, defaultFloor: floor, thresholds: thresholds)
            return FacilitatedTransport(configuration: TransportConfig(enabled: true, similarity: .tokens), membranes: [membrane],
                                        slots: slots, encode: { texts[$0]! }).gates(for: prompt).explanations[0]
        }
        // cos 0.6 to red, 0.8 to smiley.
        let prompt = Self.text([[1, 0, 0], [0.6, 0.8, 0]], tokens: [99])
        let plain = gate(prompt, thresholds: [:])
        #expect(plain.concept == "smiley" && abs(plain.gate - 0.4) < 1e-6)
        // Smiley's threshold removes its score; red's 0.6 clears its own threshold and sets the gate.
        let thresholded = gate(prompt, thresholds: ["smiley": 0.9, "red": 0.5])
        #expect(thresholded.concept == "red" && abs(thresholded.gate - 0.3) < 1e-6 && thresholded.threshold == 0.5)
        #expect(thresholded.line == "m  concept red  similarity 0.600  threshold 0.50  floor 0.00  weight 0.50  gate 0.300")
        // Both below: gate 0, or the floor; at exactly the threshold the score counts.
        #expect(gate(prompt, thresholds: ["smiley": 0.9, "red": 0.9]).gate == 0)
        #expect(abs(gate(prompt, thresholds: ["smiley": 0.9, "red": 0.9], floor: 0.2).gate - 0.1) < 1e-6)
        let exact = Self.text([[1, 0, 0], [0, 1, 0]], tokens: [98])
        #expect(abs(gate(exact, thresholds: ["smiley": 1]).gate - 0.5) < 1e-6)

        // A file records thresholds with its concepts; the user's min_gate does not touch them.
        let file = MembraneFile(family: .sd1, layers: [:], concepts: [
            MembraneConcept(name: "red", ranks: 0..<1, minGate: 0.1, gateThreshold: 0.75),
            MembraneConcept(name: "blue", ranks: 0..<1)], title: "red")
        let chosen = FacilitatedTransport.Membrane(file: file, choice: MembraneChoice(path: "red.safetensors", minGate: 0.3))
        #expect(chosen.thresholds == ["red": 0.75] && chosen.floor(["red"]) == 0.3)
    }

    @Test func floorsComeFromTheChoiceOrTheFilesConcepts() throws {
        let file = MembraneFile(family: .sd1, layers: [:], concepts: [MembraneConcept(name: "nudity", ranks: 0..<1, minGate: 1),
                                                                       MembraneConcept(name: "gore", ranks: 0..<1)], title: "nsfw")
        let recorded = FacilitatedTransport.Membrane(file: file, choice: MembraneChoice(path: "nsfw.safetensors", weight: 0.5))
        #expect(recorded.floors == ["nudity": 1] && recorded.defaultFloor == 0 && recorded.name == "nsfw" && recorded.weight == 0.5)
        #expect(recorded.floor(["gore"]) == 0 && recorded.floor(["gore", "nudity"]) == 1)
        let chosen = FacilitatedTransport.Membrane(file: file, choice: MembraneChoice(path: "nsfw.safetensors", minGate: 0.3))
        #expect(chosen.floor(["nudity"]) == 0.3 && chosen.floor(["gore"]) == 0.3)
    }

    @Test func commandLineChoices() throws {
        #expect(TransportConfig(commandLine: "off") == TransportConfig(enabled: false))
        #expect(TransportConfig(commandLine: "tokens") == TransportConfig(enabled: true, similarity: .tokens))
        #expect(TransportConfig(commandLine: "embeddings") == TransportConfig())
        #expect(TransportConfig(commandLine: "clip") == nil)
        #expect(try MembraneChoice(parsing: "a.safetensors") == MembraneChoice(path: "a.safetensors"))
        #expect(try MembraneChoice(parsing: "a.safetensors:0.8") == MembraneChoice(path: "a.safetensors", weight: 0.8))
        #expect(try MembraneChoice(parsing: "dir:x/a.safetensors:0.8:1") == MembraneChoice(path: "dir:x/a.safetensors", weight: 0.8, minGate: 1))
        #expect(MembraneChoice(MembraneUse(path: "a.safetensors", weight: 0.5, minGate: 1)) == MembraneChoice(path: "a.safetensors", weight: 0.5, minGate: 1))
        #expect(throws: MembraneChoiceError.self) { try MembraneChoice(parsing: "a.safetensors:1:2") }
        #expect(throws: MembraneChoiceError.self) { try MembraneChoice(parsing: "a.safetensors:inf") }
        #expect(throws: MembraneChoiceError.self) { try MembraneChoice(parsing: ":0.5") }
    }
}
