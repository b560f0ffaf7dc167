import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct TestbedWorldTests {
    /// FNV-1a over bytes: an independent fingerprint of rendered pixels and captions.
    static func fingerprint(_ samples: [TestbedSample]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for sample in samples {
            for byte in sample.image.pixels + Array(sample.caption.utf8) {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
        return hash
    }

    @Test func generatorMatchesPublishedSplitMix64Outputs() {
        // Seed 0: the reference outputs of Vigna's splitmix64.c.
        var generator = TestbedGenerator(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
        #expect(generator.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(generator.next() == 0x06C4_5D18_8009_454F)
    }

    @Test func generatorDrawsStayInRangeAndCoverIt() {
        var generator = TestbedGenerator(seed: 5)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<7000 {
            let index = generator.index(below: 7)
            counts[index] += 1
            let unit = generator.unit()
            #expect(unit >= 0 && unit < 1)
        }
        // Each bucket expects 1000; 5σ ≈ 150.
        #expect(counts.allSatisfy { abs($0 - 1000) < 150 }, "\(counts)")
    }

    @Test func samplesAreDeterministicAndIndependentOfOrder() {
        let world = TestbedWorld()
        let forward = world.samples(seed: 11, indices: 0..<20)
        let backward = (0..<20).reversed().map { world.sample(seed: 11, index: $0) }.reversed()
        #expect(forward == Array(backward))
        #expect(world.samples(seed: 12, indices: 0..<20) != forward)
        // The golden fingerprint pins scenes, captions and pixels across runs, platforms and Swift versions.
        #expect(Self.fingerprint(world.samples(seed: 1, indices: 0..<16)) == Self.golden,
                "fingerprint \(String(Self.fingerprint(world.samples(seed: 1, indices: 0..<16)), radix: 16))")
    }
    static let golden: UInt64 = 0x9526_92A9_B6BB_4EB9

    @Test func worldCoversEveryConceptWithTheConfiguredShares() {
        let world = TestbedWorld(textureProbability: 0.4, characterProbability: 0.3)
        let scenes = (0..<3000).map { world.scene(seed: 3, index: $0) }
        for concept in world.concepts {
            #expect(scenes.contains { $0.shows(concept) }, "\(concept) never drawn")
        }
        let textured = Double(scenes.filter { $0.texture != nil }.count) / 3000
        let withFace = Double(scenes.filter { $0.character != nil }.count) / 3000
        #expect(abs(textured - 0.4) < 0.04)
        #expect(abs(withFace - 0.3) < 0.04)
        // Every shape stays inside the image with its margin.
        for scene in scenes {
            let g = scene.geometry
            #expect(g.centreX - g.size >= TestbedWorld.margin - 1e-9 && g.centreX + g.size <= 32 - TestbedWorld.margin + 1e-9)
            #expect(TestbedWorld.sizeRange.contains(g.size))
        }
    }

    @Test func requiringAndAvoidingAConcept() {
        let world = TestbedWorld()
        var generator = TestbedGenerator(seed: 8)
        for concept in TestbedConcept.all {
            for _ in 0..<30 {
                #expect(world.scene(using: &generator, requiring: concept).shows(concept))
                #expect(!world.scene(using: &generator, avoiding: [concept]).shows(concept))
            }
        }
    }

    @Test func renderingDrawsTheSceneWhereItsGeometrySays() {
        let scene = TestbedScene(shape: .circle, colour: .red, background: .black,
                                 geometry: TestbedGeometry(centreX: 16, centreY: 16, size: 10))
        let image = scene.render()
        #expect(image.width == 32 && image.height == 32)
        #expect(image[16, 16] == (220, 40, 40))
        #expect(image[0, 0] == (15, 15, 15))
        // The red channel's excess over the background integrates the covered area: πr² within 1%.
        let covered = stride(from: 0, to: image.pixels.count, by: 3)
            .map { Double(Int(image.pixels[$0]) - 15) / Double(220 - 15) }.reduce(0, +)
        #expect(abs(covered - Double.pi * 100) < Double.pi)
        // A square of half-side 0.85·size: 4·8.5² pixels.
        let square = TestbedScene(shape: .square, colour: .red, background: .black,
                                  geometry: TestbedGeometry(centreX: 16, centreY: 16, size: 10)).render()
        let squareArea = stride(from: 0, to: square.pixels.count, by: 3)
            .map { Double(Int(square.pixels[$0]) - 15) / Double(220 - 15) }.reduce(0, +)
        #expect(abs(squareArea - 289) < 1)
    }

    @Test func texturesDarkenTheFillAndTheFaceIsNearWhite() {
        let geometry = TestbedGeometry(centreX: 16, centreY: 16, size: 12, patternOffsetX: 0, patternOffsetY: 0)
        let striped = TestbedScene(shape: .square, colour: .blue, texture: .striped, geometry: geometry).render()
        // Offset 0: rows 0–3 of every 8 are the dark shade (0.55 × fill), rows 4–7 the fill.
        #expect(striped[16, 17] == (22, 50, 121))
        #expect(striped[16, 13] == (40, 90, 220))
        let face = TestbedScene(shape: .circle, colour: .green, character: .smiley, geometry: geometry).render()
        let brightest = (0..<32 * 32).map { min(face[$0 % 32, $0 / 32].red, face[$0 % 32, $0 / 32].green) }
        #expect(brightest.filter { $0 >= 200 }.count > 10)
        let larger = TestbedScene(shape: .circle, colour: .green, character: .smiley, geometry: geometry).render(side: 64)
        #expect(larger.width == 64)
    }

    @Test func captionsNameEveryAttribute() {
        let scene = TestbedScene(shape: .circle, colour: .red, texture: .striped, character: .smiley, background: .white)
        #expect(scene.caption(.article) == "a striped red circle with a smiley")
        #expect(scene.caption(.picture) == "a picture of a striped red circle with a smiley on a white background")
        #expect(scene.caption(.inColour) == "a striped circle in red with a smiley")
        let plain = TestbedScene(shape: .square, colour: .orange, background: .darkGrey)
        #expect(plain.caption(.article) == "an orange square")
        #expect(plain.caption(.image) == "an image of an orange square on dark grey")
        #expect(plain.caption(.bare) == "orange square")
        let wording = TestbedWording(canonicalFor: plain).naming(.shape(.square), as: "box")
        #expect(TestbedTemplate.drawing.caption(wording) == "a drawing of an orange box")
    }

    @Test func everyCaptionWordIsOneClipToken() throws {
        let tokenizer = try CLIPTokenizer(bundledWithPadToken: "<|endoftext|>")
        var words = Set<String>()
        for concept in TestbedConcept.all { for phrase in concept.words { words.formUnion(phrase.split(separator: " ").map(String.init)) } }
        for background in TestbedBackground.allCases { for phrase in background.words { words.formUnion(phrase.split(separator: " ").map(String.init)) } }
        // The frames' own words, from captions of a scene with every slot filled.
        let scene = TestbedScene(shape: .circle, colour: .red, texture: .dotted, character: .smiley)
        for template in TestbedTemplate.allCases { words.formUnion(scene.caption(template).split(separator: " ").map(String.init)) }
        for word in words.sorted() {
            #expect(tokenizer.tokens(word).count == 1, "'\(word)' is not a single CLIP token")
        }
        // Random captions use only those words.
        let world = TestbedWorld()
        for sample in world.samples(seed: 4, indices: 0..<200) {
            for word in sample.caption.split(separator: " ") { #expect(words.contains(String(word)), "\(word)") }
        }
    }

    @Test func conceptsAreFoundByAnyWordAndCodeAsTheirCanonicalWord() throws {
        #expect(TestbedConcept(word: "Scarlet") == .colour(.red))
        #expect(TestbedConcept(word: "box") == .shape(.square))
        #expect(TestbedConcept(word: "polka dot") == .texture(.dotted))
        #expect(TestbedConcept(word: "grin") == .character(.smiley))
        #expect(TestbedConcept(word: "teal") == nil)
        // No word belongs to two concepts.
        let words = TestbedConcept.all.flatMap(\.words)
        #expect(Set(words).count == words.count)
        #expect(TestbedConcept.all.count == 6 + 5 + 2 + 1)
        let encoded = try JSONEncoder().encode([TestbedConcept.colour(.red), .shape(.star)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["red","star"]"#)
        #expect(try JSONDecoder().decode([TestbedConcept].self, from: encoded) == [.colour(.red), .shape(.star)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TestbedConcept].self, from: Data(#"["crimson"]"#.utf8)) }
    }
}
