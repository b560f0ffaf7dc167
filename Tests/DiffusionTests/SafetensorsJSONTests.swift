import Foundation
import Testing
@testable import Diffusion

/// The strict JSON reader/writer that safetensors headers and model configs go through.
@Suite struct SafetensorsJSONTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func parsesEveryKindOfValueKeepingOrderAndLiterals() throws {
        let value = try parse(#" {"z": [1, -2.5e3, 0.18215, true, false, null], "a": {"s": "x\"\\\/\n\u00e9\ud83d\ude00"}} "#)
        #expect(value.members?.map(\.key) == ["z", "a"])
        #expect(value["z"] == .array([.number("1"), .number("-2.5e3"), .number("0.18215"), .bool(true), .bool(false), .null]))
        #expect(value["a"]?["s"]?.stringValue == "x\"\\/\n\u{e9}\u{1F600}")
        #expect(value["z"]?.arrayValue?[2].doubleValue == 0.18215)
        #expect(JSONValue.number("12").nonNegativeIntValue == 12)
        #expect(JSONValue.number("-12").nonNegativeIntValue == nil)
        #expect(JSONValue.number("1.0").nonNegativeIntValue == nil)
    }

    @Test func rejectsWhatRFC8259Rejects() {
        let invalid = [
            "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "'a'", "\"a",
            "\"\u{01}\"", #""\x""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, "{1:2}", "[1 2]", "{} {}",
            #"{"a":1,"a":2}"#, "NaN", "Infinity",
        ]
        for text in invalid {
            #expect(throws: JSONParseError.self, "\(text.debugDescription)") { try parse(text) }
        }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }  // bad UTF-8 in a string
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError(problem: .tooDeep, offset: 64)) { try parse(deep) }
        let shallowEnough = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(shallowEnough) }
    }

    @Test func duplicateKeysReportTheirDepth() {
        #expect(throws: JSONParseError(problem: .duplicateKey("a", depth: 1), offset: 7)) { try parse(#"{"a":1,"a":2}"#) }
        #expect(throws: JSONParseError(problem: .duplicateKey("b", depth: 2), offset: 12)) { try parse(#"{"a":{"b":1,"b":2}}"#) }
    }

    @Test func serializationEscapesAndSortsAndRoundTrips() throws {
        let value = JSONValue.object([
            JSONMember("b", .string("tab\t\"q\" \u{01} é")),
            JSONMember("a", .array([.integer(3), .double(0.5), .double(2), .double(.nan), .bool(true), .null])),
        ])
        #expect(value.serialized() == #"{"b":"tab\t\"q\" \u0001 é","a":[3,0.5,2,null,true,null]}"#)
        #expect(value.serialized(sortedKeys: true).hasPrefix(#"{"a":"#))
        #expect(try parse(value.serialized()) == value)
        #expect(try parse(value.prettyPrinted()) == .object(value.members!.sorted { $0.key < $1.key }))
        #expect(JSONValue.object([]).prettyPrinted() == "{}")
    }
}
