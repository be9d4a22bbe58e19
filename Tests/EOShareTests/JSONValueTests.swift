import EOShare
import Testing

/// The JSON reader every stage and the audit read items with: strict RFC 8259, key order
/// kept, and the fast paths (plain strings, small integers) equal to the general ones.
@Suite struct JSONValueTests {
    @Test func plainAndEscapedStringsAndNumbers() throws {
        let text =
            #"{"b":"plain","a":"tab\tquote\"slash\/é\u00e9\ud83d\ude80","n":[0,-7,123456789012345678,1234567890123456789,-12345678901234567890,1.5,-2e3,1E-2],"t":true,"f":false,"z":null}"#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v.objectValue?.keys == ["b", "a", "n", "t", "f", "z"])
        #expect(v["b"]?.stringValue == "plain")
        #expect(v["a"]?.stringValue == "tab\tquote\"slash/éé🚀")
        #expect(
            v["n"]?.arrayValue == [
                .int(0), .int(-7), .int(123_456_789_012_345_678), .int(1_234_567_890_123_456_789),
                .number(-12_345_678_901_234_567_890), .number(1.5), .number(-2000), .number(0.01),
            ]
        )
        #expect(v["t"] == .bool(true) && v["f"] == .bool(false) && v["z"] == .null)
        #expect(try JSONValue.parse(v.serialized()).serialized() == v.serialized(), "what we write reads back the same")
    }

    /// Objects keep insertion order whether they are small (searched in place) or large
    /// (indexed); replacing keeps the place, removing closes the gap, duplicates keep the last.
    @Test func objectsKeepOrderAcrossTheIndexThreshold() throws {
        for size in [3, 12, 13, 40] {
            var o = JSONObject()
            for k in 0..<size { o["k\(k)"] = .int(Int64(k)) }
            o["k1"] = .string("replaced")
            o["k0"] = nil
            o["new"] = .bool(true)
            #expect(o.keys == (1..<size).map { "k\($0)" } + ["new"])
            #expect(o["k1"] == .string("replaced") && o["k0"] == nil && o["new"] == .bool(true))
            #expect(o[("k\(size - 1)")] == .int(Int64(size - 1)))
            var copy = JSONObject()
            for (k, v) in o.entries { copy[k] = v }
            #expect(copy == o && copy.hashValue == o.hashValue)
        }
        let duplicate = try JSONValue.parse(Array(#"{"a":1,"b":2,"a":3}"#.utf8))
        #expect(duplicate.objectValue?.keys == ["a", "b"] && duplicate["a"] == .int(3))
    }

    @Test func nonASCIIStringsAreValidated() throws {
        #expect(try JSONValue.parse(Array(#"["Ψ 日本"]"#.utf8)) == .array([.string("Ψ 日本")]))
        for bad: [UInt8] in [
            [0x22, 0xC3, 0x22], [0x22, 0xFF, 0x41, 0x22], [0x22, 0x41, 0x5C, 0x6E, 0xC3, 0x28, 0x22],
        ] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
    }

    @Test func selectingBuildsTheNamedMembersAndStillChecksTheRest() throws {
        let text =
            #"{"skip":{"a":[1,-2.5e3,"x\"y\u00e9",true,null,{}],"b":false},"keep":{"n":1,"m":2},"k\u0065ep2":3,"each":{"x":{"h":1,"z":2},"y":{"z":3}},"also":[]}"#
        let selection = JSONSelection.only([("keep", .members("n")), ("keep2", .all), ("each", .each(.members("h")))])
        let v = try Array(text.utf8).withUnsafeBufferPointer { try JSONValue.parse($0, selecting: selection) }
        #expect(
            v
                == .object([
                    "keep": .object(["n": .int(1)]), "keep2": .int(3),
                    "each": .object(["x": .object(["h": .int(1)]), "y": .object([:])]),
                ])
        )
        for bad in [
            #"{"skip":[1,],"keep":1}"#, #"{"skip":"\x","keep":1}"#, #"{"skip":tru,"keep":1}"#, #"{"skip":{"a" 1}}"#,
            #"[1]"#, #"{"keep":{"n":1,"m":}}"#,
        ] {
            #expect(throws: JSONParseError.self, "\(bad)") {
                try Array(bad.utf8).withUnsafeBufferPointer { try JSONValue.parse($0, selecting: selection) }
            }
        }
    }

    @Test func malformedTextIsRefusedWithAnOffset() {
        for (text, offset) in [
            (#"{"a":1,}"#, 7), (#"["x]"#, 4), (#"[tru]"#, 1), (#"[1] x"#, 4), ("[\"a\u{01}\"]", 3), (#"[-]"#, 2),
            (#"{"a" 1}"#, 5), ("", 0),
        ] {
            do {
                _ = try JSONValue.parse(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.offset == offset, "\(text): \(error)")
            }
        }
    }
}

/// Numbers exactly as RFC 8259 §6 writes them, in full parses and in the members a
/// selective parse skips: no leading zeros, no plus sign, digits on both sides of a point,
/// digits in an exponent.
extension JSONValueTests {
    @Test(arguments: [
        ("01", "leading zero"), ("-01", "leading zero"), ("+1", "unexpected character"), (".5", "unexpected character"),
        ("1.", "digit expected after '.'"), ("1.e5", "digit expected after '.'"), ("1e", "digit expected in exponent"),
        ("1e+", "digit expected in exponent"), ("-", "digit expected after '-'"), ("--1", "digit expected after '-'"),
        ("1.5.2", "expected ',' or ']'"), ("0x10", "expected ',' or ']'"), ("1e5e5", "expected ',' or ']'"),
        ("Infinity", "unexpected character"), ("-.5", "digit expected after '-'"),
    ])
    func numbersOutsideTheGrammarAreRefused(_ number: String, _ reason: String) throws {
        for text in ["[\(number)]", #"{"skipped":[\#(number)],"kept":1}"#] {
            let bytes = Array(text.utf8)
            let full = #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
            #expect(full?.reason.contains(reason) == true, "\(text): \(String(describing: full))")
            let selective = #expect(throws: JSONParseError.self) {
                try bytes.withUnsafeBufferPointer { try JSONValue.parse($0, selecting: .members("kept")) }
            }
            if text.hasPrefix("{") { #expect(selective?.reason.contains(reason) == true, "\(text) skipped") }
        }
    }

    /// Skipped members are refused for what a full parse refuses in them: a lone surrogate
    /// escape, invalid UTF-8 in a string or a key, a number beyond a Double (found by the json
    /// fuzz target).
    static let skippedButBad: [[UInt8]] = {
        let texts = [
            #"{"kept":1,"skipped":"\ude80"}"#, #"{"kept":1,"skipped":"a\ud83dz"}"#, #"{"kept":1,"skipped":1e3082}"#,
            #"{"kept":1,"skipped":[-1E+400]}"#,
        ]
        let badUTF8: [[UInt8]] = [
            Array(#"{"kept":1,"skipped":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
            Array(#"{"kept":1,""#.utf8) + [0xFF] + Array(#"":2}"#.utf8),
        ]
        return texts.map { Array($0.utf8) } + badUTF8
    }()

    @Test(arguments: Self.skippedButBad)
    func skippedMembersAreCheckedAsReadOnes(_ bytes: [UInt8]) throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        #expect(throws: JSONParseError.self) {
            try bytes.withUnsafeBufferPointer { try JSONValue.parse($0, selecting: .members("kept")) }
        }
    }

    @Test(arguments: [
        ("0", JSONValue.int(0)), ("-0", .int(0)), ("10", .int(10)), ("0.5", .number(0.5)), ("-0.0", .number(-0.0)),
        ("1e5", .number(100_000)), ("1E+2", .number(100)), ("2.5e-1", .number(0.25)), ("0e0", .number(0)),
    ])
    func numbersInTheGrammarAreRead(_ number: String, _ value: JSONValue) throws {
        #expect(try JSONValue.parse(Array("[\(number)]".utf8)) == .array([value]))
        let selected = try Array(#"{"skipped":\#(number),"kept":\#(number)}"#.utf8).withUnsafeBufferPointer {
            try JSONValue.parse($0, selecting: .members("kept"))
        }
        #expect(selected["kept"] == value)
    }
}

/// Input never recurses without bound: arrays and objects nested past 256 are refused, in
/// full parses and in selective ones that skip what they do not build.
extension JSONValueTests {
    @Test func nestingPastTheLimitIsRefused() throws {
        let arrays = Array((String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)).utf8)
        let e1 = #expect(throws: JSONParseError.self) { try JSONValue.parse(arrays) }
        #expect(e1?.reason == "nesting deeper than 256" && e1?.offset == 256)
        let objects = Array(("{\"a\":" + String(repeating: "{\"a\":", count: 200_000)).utf8)
        let e2 = #expect(throws: JSONParseError.self) {
            try objects.withUnsafeBufferPointer { try JSONValue.parse($0, selecting: .members("b")) }
        }
        #expect(e2?.reason == "nesting deeper than 256")
        let atLimit = Array((String(repeating: "[", count: 256) + String(repeating: "]", count: 256)).utf8)
        #expect(throws: Never.self) { try JSONValue.parse(atLimit) }
    }
}
