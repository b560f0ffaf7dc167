import Testing
@testable import Diffusion

private struct Leaf: Codable, Equatable {
    var name: String
    var weight: Double
    var gate: Double?
}

private struct Tree: Codable, Equatable {
    var title: String
    var count: Int
    var enabled: Bool
    var leaves: [Leaf]
    var matrix: [[Int]]
    var lookup: [String: Int]
    var empty: [String]
    var seed: UInt64
    var ratio: Float
}

@Suite struct YAMLEncoderTests {
    @Test func blockStyleInCodingKeysOrder() throws {
        let tree = Tree(title: "demo", count: 3, enabled: true,
                        leaves: [Leaf(name: "a", weight: 1, gate: nil), Leaf(name: "b", weight: 0.5, gate: 1)],
                        matrix: [[1, 2], []], lookup: ["k": 1], empty: [], seed: 18_446_744_073_709_551_615,
                        ratio: 0.1)
        let text = try YAMLEncoder().encode(tree)
        #expect(text == """
            title: demo
            count: 3
            enabled: true
            leaves:
              - name: a
                weight: 1.0
              - name: b
                weight: 0.5
                gate: 1.0
            matrix:
              -
                - 1
                - 2
              - []
            lookup:
              k: 1
            empty: []
            seed: 18446744073709551615
            ratio: 0.1

            """)
        #expect(try YAMLDecoder().decode(Tree.self, from: text, file: "t.yaml") == tree)
    }

    @Test func stringsThatWouldMisreadAreQuoted() throws {
        let tricky = ["", "true", "False", "null", "~", "123", "-5", "1e-4", ".inf", ".nan", "0x1F", "yes", "off",
                      "key: value", "ends with colon:", "a #comment", "#hash", "- dash", "-", "?", "[list]", "{map}",
                      "*alias", "&anchor", "!tag", "|", ">", "'single'", "\"double\"", "%percent", "@at", "`tick",
                      " leading", "trailing ", "two\nlines", "tab\there", "back\\slash", "quote\"inside", "café",
                      "日本語のプロンプト", "emoji 🎨", "\u{7F}delete", "\u{85}next", "line\u{2028}separator",
                      "\u{FEFF}bom", "null\0byte", "...", "---", "3d render",
                      "score_9, score_8_up, score_7_up, score_6_up, score_5_up, score_4_up"]
        let text = try YAMLEncoder().encode(tricky)
        #expect(try YAMLDecoder().decode([String].self, from: text, file: "q.yaml") == tricky)
        for value in ["true", "123", "", "key: value", "café"] {
            #expect(YAMLScalarWriter.needsQuotes(value), "\(value)")
        }
        for value in ["snoopy", "a photo of a cat", "models/sd15", "score_9, score_8_up", "euler-a", "./x.yaml"] {
            #expect(!YAMLScalarWriter.needsQuotes(value), "\(value)")
        }
    }

    @Test func numbersRoundTripExactly() throws {
        let doubles: [Double] = [0, -0.0, 1e-4, 0.1, 1.0 / 3.0, 123_456_789.125, 1e300, .leastNonzeroMagnitude, .infinity,
                                 -.infinity, Double.ulpOfOne]
        let text = try YAMLEncoder().encode(doubles)
        let decoded = try YAMLDecoder().decode([Double].self, from: text, file: "n.yaml")
        #expect(decoded.map(\.bitPattern) == doubles.map(\.bitPattern))
        let floats: [Float] = [0.1, 3.4e38, .leastNonzeroMagnitude, 0.3]
        let floatText = try YAMLEncoder().encode(floats)
        #expect(try YAMLDecoder().decode([Float].self, from: floatText, file: "n.yaml") == floats)
        let integers: [Int64] = [.min, -1, 0, .max]
        #expect(try YAMLDecoder().decode([Int64].self, from: YAMLEncoder().encode(integers), file: "n.yaml") == integers)
    }

    @Test func nilOptionalsAreOmittedAndReadBackAsNil() throws {
        let leaf = Leaf(name: "x", weight: 2, gate: nil)
        let text = try YAMLEncoder().encode(leaf)
        #expect(text == "name: x\nweight: 2.0\n")
        #expect(try YAMLDecoder().decode(Leaf.self, from: text, file: "l.yaml") == leaf)
        #expect(try YAMLEncoder().encode([Int?.none, 1]) == "- null\n- 1\n")
    }
}
