import NetCore
import Testing

@Suite struct JSONTests {
    @Test func roundTripKeepsKeyOrderAndUnknownMembers() throws {
        let text = #"{"cniVersion":"1.1.0","name":"net","zeta":{"b":1,"a":[true,false,null]},"alpha":-2.5}"#
        let value = try JSON(parsing: text)
        #expect(value.serialized() == text)
        #expect(value.objectValue?.keys == ["cniVersion", "name", "zeta", "alpha"])
        #expect(value["zeta"]?["b"]?.intValue == 1)
        #expect(value["alpha"] == .double(-2.5))
    }

    @Test func prettyOutputIndentsByFourSpaces() throws {
        let value: JSON = ["a": 1, "b": ["x", "y"], "c": [:], "d": []]
        #expect(value.serialized(pretty: true) == """
            {
                "a": 1,
                "b": [
                    "x",
                    "y"
                ],
                "c": {},
                "d": []
            }
            """)
    }

    @Test func escapesAndUnicodeRoundTrip() throws {
        let value = try JSON(parsing: #""quote \" backslash \\ tab \t nl \n \u00e9 \ud83d\ude00 \u0001""#)
        #expect(value.stringValue == "quote \" backslash \\ tab \t nl \n é 😀 \u{01}")
        #expect(value.serialized() == #""quote \" backslash \\ tab \t nl \n é 😀 \u0001""#)
    }

    @Test func numbers() throws {
        #expect(try JSON(parsing: "1500") == .int(1500))
        #expect(try JSON(parsing: "1500.0").intValue == 1500)
        #expect(try JSON(parsing: "-0.5e2") == .double(-50))
        // Out of a double's range: an error, not an infinity that would be written back as null.
        #expect(throws: JSONParseError.self) { try JSON(parsing: "1e400") }
        #expect(JSON.double(3).serialized() == "3")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"a", "tru", "{} x", "\"\u{01}\"", "\"\\ud800\""])
    func malformedInputIsRejectedWithAnOffset(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON(parsing: text) }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSON(parsing: deep) }
    }

    @Test func settingAMemberKeepsItsPositionAndNilRemoves() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = "two"
        object["a"] = nil
        object["d"] = 4
        #expect(object.keys == ["b", "c", "d"])
        #expect(object["b"] == "two")
    }
}
