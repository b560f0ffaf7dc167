import Foundation
import Testing
@testable import Diffusion
import TestSupport

private struct Scalars: Codable, Equatable {
    var integer: Int
    var float: Double
    var flag: Bool
    var text: String
    var optional: Int?
}

private struct Inner: Codable, Equatable {
    var rank: Int
    var alpha: Double
}

private struct Outer: Codable, Equatable {
    var name: String
    var items: [Inner]
    var tags: [String]
    var nested: Inner
}

private enum Colour: String, Codable, CaseIterable {
    case red, green, blue
}

private struct Painted: Codable, Equatable {
    var colour: Colour
}

/// Validates itself the way config types do: relative paths, checked after decoding.
private struct Bounded: Codable, Equatable, ConfigValidating {
    var low: Int
    var high: Int

    func validate() throws(ConfigValidationError) {
        guard low >= 0 else { throw ConfigValidationError("low", message: "must be at least 0, found \(low)") }
        guard high > low else { throw ConfigValidationError("high", message: "must be greater than low") }
    }
}

private struct HoldsBounded: Codable, Equatable {
    var ranges: [Bounded]
}

private struct WithDefaults: Decodable, Equatable {
    var learningRate: Double
    var steps: Int

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate"
        case steps
    }
}

extension WithDefaults {
    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        learningRate = try container.decodeIfPresent(Double.self, forKey: .learningRate) ?? 1e-4
        steps = try container.decodeIfPresent(Int.self, forKey: .steps) ?? 30
    }
}

/// The one-line message a decode of `text` fails with.
private func failure<T: Decodable>(_ type: T.Type, _ text: String) -> ConfigError? {
    do {
        _ = try YAMLDecoder().decode(type, from: text, file: "test.yaml")
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        Issue.record("not a ConfigError: \(error)")
        return nil
    }
}

@Suite struct YAMLDecoderTests {
    @Test func scalarsFollowTheCoreSchema() throws {
        let value = try YAMLDecoder().decode(Scalars.self, from: """
            integer: -42
            float: 1e-4
            flag: true
            text: "123"
            optional: ~
            """, file: "test.yaml")
        #expect(value == Scalars(integer: -42, float: 1e-4, flag: true, text: "123", optional: nil))

        let other = try YAMLDecoder().decode(Scalars.self, from: """
            integer: 0x1F
            float: 3
            flag: FALSE
            text: plain words, with a comma
            optional: 0o17
            """, file: "test.yaml")
        #expect(other == Scalars(integer: 31, float: 3, flag: false, text: "plain words, with a comma", optional: 15))
    }

    @Test func floatSpellings() throws {
        let cases: [(String, Double)] = [("0.5", 0.5), (".5", 0.5), ("-2.", -2), ("+1.5e3", 1500), ("1E-2", 0.01),
                                         ("7", 7), ("-.inf", -.infinity), (".inf", .infinity)]
        for (text, expected) in cases {
            #expect(try YAMLDecoder().decode(Double.self, from: text, file: "f.yaml") == expected, "\(text)")
        }
        #expect(try YAMLDecoder().decode(Double.self, from: ".nan", file: "f.yaml").isNaN)
        for text in ["0x1p3", "inf", "nan", "1e", "e5", "1.2.3", "'1.5'", "1_000"] {
            #expect(failure(Double.self, text)?.kind == .typeMismatch, "\(text)")
        }
    }

    @Test func sequencesMappingsAndNesting() throws {
        let text = """
            name: nested
            items:
              - rank: 1
                alpha: 1.0
              - {rank: 4, alpha: 0.5}
            tags: [a, "b c", 'd']
            nested:
              rank: 2
              alpha: 2.5
            """
        let value = try YAMLDecoder().decode(Outer.self, from: text, file: "test.yaml")
        #expect(value == Outer(name: "nested", items: [Inner(rank: 1, alpha: 1), Inner(rank: 4, alpha: 0.5)],
                               tags: ["a", "b c", "d"], nested: Inner(rank: 2, alpha: 2.5)))
        let dictionary = try YAMLDecoder().decode([String: [Int]].self, from: "a: [1, 2]\nb: []\n", file: "d.yaml")
        #expect(dictionary == ["a": [1, 2], "b": []])
    }

    @Test func quotedAndBlockScalarsStayStrings() throws {
        let text = """
            - "true"
            - 'null'
            - !!str 42
            - |
              two
              lines
            - "unicode: café ✓ \\u00e9"
            """
        let value = try YAMLDecoder().decode([String].self, from: text, file: "s.yaml")
        #expect(value == ["true", "null", "42", "two\nlines\n", "unicode: café ✓ é"])
        #expect(failure(Bool.self, "\"true\"")?.message == "expected true or false, found the string \"true\"")
    }

    @Test func defaultsApplyAndOverridesStay() throws {
        #expect(try YAMLDecoder().decode(WithDefaults.self, from: "{}", file: "d.yaml")
                == WithDefaults(learningRate: 1e-4, steps: 30))
        #expect(try YAMLDecoder().decode(WithDefaults.self, from: "steps: 5\nlearning_rate: 0.5", file: "d.yaml")
                == WithDefaults(learningRate: 0.5, steps: 5))
        #expect(try YAMLDecoder().decode(WithDefaults.self, from: "steps:\n", file: "d.yaml")
                == WithDefaults(learningRate: 1e-4, steps: 30))
    }

    @Test func syntaxErrorNamesTheLine() {
        let error = failure(Inner.self, "rank: 1\nalpha: [1, 2\n")
        #expect(error?.kind == .syntax)
        #expect(error?.line == 3)
        #expect(error?.description.hasPrefix("test.yaml:3: YAML syntax error: ") == true)
        #expect(failure(Inner.self, "rank: 1\n  alpha: 2\n")?.description
                == "test.yaml:2: YAML syntax error: mapping values are not allowed in this context")
    }

    @Test func wrongTypesNameFieldAndLine() {
        #expect(failure(Inner.self, "rank: 1\nalpha: abc\n")?.description
                == "test.yaml:2: alpha: expected a number, found 'abc'")
        #expect(failure(Inner.self, "rank: 1.5\nalpha: 1\n")?.description
                == "test.yaml:1: rank: expected an integer, found '1.5'")
        #expect(failure(Outer.self, "name: x\nitems:\n  - rank: 1\n    alpha: [1]\ntags: []\nnested: {rank: 1, alpha: 1}")?
            .description == "test.yaml:4: items[0].alpha: expected a number, found a list")
        #expect(failure(Outer.self, "name: x\nitems: 3\ntags: []\nnested: {rank: 1, alpha: 1}")?.description
                == "test.yaml:2: items: expected a list, found '3'")
        #expect(failure(Inner.self, "- 1")?.description == "test.yaml:1: expected a mapping, found a list")
        #expect(failure(UInt8.self, "300")?.description == "test.yaml:1: expected a whole number from 0 to 255, found '300'")
        #expect(failure(Scalars.self, "integer: 1\nfloat: 1\nflag: yes\ntext: a")?.description
                == "test.yaml:3: flag: expected true or false, found 'yes'")
        #expect(failure(Scalars.self, "integer: 1\nfloat: 1\nflag: true\ntext:\n")?.description
                == "test.yaml:4: text: expected a string, found null")
    }

    @Test func missingKeysNameTheFieldAndSuspectMisspellings() {
        #expect(failure(Inner.self, "rank: 1\n")?.description == "test.yaml:1: alpha: missing required key")
        #expect(failure(Outer.self, "name: x\nitems: []\ntags: []\nnested:\n  rank: 2\n  alhpa: 1\n")?.description
                == "test.yaml:5: nested.alpha: missing required key ('alhpa' on line 6 looks like a misspelling)")
    }

    @Test func unknownKeysAreErrors() {
        #expect(failure(WithDefaults.self, "steps: 3\nlearning_rat: 0.1\n")?.description
                == "test.yaml:2: learning_rat: unknown key (did you mean 'learning_rate'?)")
        #expect(failure(Inner.self, "rank: 1\nalpha: 1\ncolour: red\nextra:\n  deep: 1\n")?.description
                == "test.yaml:3: colour: unknown key (known keys here: rank, alpha); also unknown: extra on line 4")
        #expect(failure(Outer.self, "name: x\nitems:\n  - {rank: 1, alpha: 1, beta: 2}\ntags: []\nnested: {rank: 1, alpha: 1}")?
            .description == "test.yaml:3: items[0].beta: unknown key (known keys here: rank, alpha)")
    }

    @Test func duplicateKeysAreErrors() {
        #expect(failure(Inner.self, "rank: 1\nalpha: 1\nrank: 2\n")?.description
                == "test.yaml:3: rank: duplicate key (first given on line 1)")
        // Keys are user text: control characters are escaped so the message stays one line.
        #expect(failure(Inner.self, "rank: 1\nalpha: 1\n\"a\\nb\": 2\n")?.description
                == "test.yaml:3: a\\nb: unknown key (known keys here: rank, alpha)")
    }

    @Test func anchorsAliasesAndTagsAreRefusedCleanly() {
        #expect(failure(Outer.self, "name: &n x\nitems: []\ntags: []\nnested: {rank: 1, alpha: 1}")?.description
                == "test.yaml:1: name: anchors (&n) are not supported; write the value out")
        #expect(failure([String].self, "- &n a\n- *n\n")?.description
                == "test.yaml:1: [0]: anchors (&n) are not supported; write the value out")
        #expect(failure([String].self, "- a\n- *n\n")?.description
                == "test.yaml:2: [1]: aliases (*n) are not supported; write the value out")
        #expect(failure(Inner.self, "rank: !!int 1\nalpha: 1")?.description
                == "test.yaml:1: tag 'tag:yaml.org,2002:int' is not supported (only !!str)")
        #expect(failure(Inner.self, "--- {rank: 1, alpha: 1}\n--- {rank: 2, alpha: 1}\n")?.description
                == "test.yaml:2: only one YAML document per file is supported")
    }

    @Test func enumerationsListTheirChoices() throws {
        #expect(try YAMLDecoder().decode(Painted.self, from: "colour: green", file: "p.yaml") == Painted(colour: .green))
        #expect(failure(Painted.self, "\ncolour: purple")?.description
                == "test.yaml:2: colour: expected one of red, green, blue, found 'purple'")
    }

    @Test func validationErrorsPointAtTheField() throws {
        #expect(try YAMLDecoder().decode(HoldsBounded.self, from: "ranges: [{low: 0, high: 1}]", file: "v.yaml")
                == HoldsBounded(ranges: [Bounded(low: 0, high: 1)]))
        #expect(failure(HoldsBounded.self, "ranges:\n  - low: 0\n    high: 1\n  - low: 5\n    high: 2\n")?.description
                == "test.yaml:5: ranges[1].high: must be greater than low")
        #expect(failure(HoldsBounded.self, "ranges:\n  - low: -1\n    high: 1\n")?.description
                == "test.yaml:2: ranges[0].low: must be at least 0, found -1")
    }

    @Test func emptyAndDeepDocumentsAreRefused() {
        #expect(failure(Inner.self, "")?.description == "test.yaml:1: the file is empty")
        #expect(failure(Inner.self, "# only a comment\n")?.description == "test.yaml:1: the file is empty")
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(failure([String].self, deep)?.kind == .unsupported)
    }

    /// Thousands of seeded byte mutations of a valid document: each decodes or fails with a ConfigError,
    /// never a crash or another error type.
    @Test func mutatedDocumentsNeverCrash() {
        let original = Array("""
            name: "nested"
            items:
              - rank: 1
                alpha: 1.0e-4
              - {rank: 4, alpha: .5}
            tags: [a, 'b', "c\\n"]
            nested: {rank: 2, alpha: -3}
            """.utf8)
        let alphabet = Array("-:[]{},#&*!|>'\"%@`?~ \n\t0a.e\\".utf8) + [0xC3, 0xA9, 0xFF, 0x00]
        var generator = SplitMix64(seed: 7)
        var decoded = 0, refused = 0
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = alphabet.randomElement(using: &generator)!
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                _ = try YAMLDecoder().decode(Outer.self, from: text, file: "m.yaml")
                decoded += 1
            } catch let error as ConfigError {
                #expect(!error.description.contains("\n"), "\(error.description)")
                refused += 1
            } catch {
                Issue.record("not a ConfigError: \(error)")
            }
        }
        #expect(decoded > 0 && refused > 0)
    }

    @Test func filesAreReadFromDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("inner.yaml")
        try Data("rank: 3\nalpha: 0.25\n".utf8).write(to: url)
        #expect(try YAMLDecoder().decode(Inner.self, fromFileAt: url) == Inner(rank: 3, alpha: 0.25))

        try Data("rank: x\nalpha: 1\n".utf8).write(to: url)
        #expect(throws: ConfigError(kind: .typeMismatch, file: url.path, line: 1, field: "rank",
                                    message: "expected an integer, found 'x'")) {
            try YAMLDecoder().decode(Inner.self, fromFileAt: url)
        }
        let missing = directory.appendingPathComponent("absent.yaml")
        #expect(throws: ConfigError(kind: .unreadable, file: missing.path, line: nil, field: "", message: "no such file")) {
            try YAMLDecoder().decode(Inner.self, fromFileAt: missing)
        }
        try Data([0x72, 0x61, 0xFF, 0xFE]).write(to: url)
        #expect(throws: ConfigError(kind: .unreadable, file: url.path, line: nil, field: "", message: "not UTF-8 text")) {
            try YAMLDecoder().decode(Inner.self, fromFileAt: url)
        }
    }
}
