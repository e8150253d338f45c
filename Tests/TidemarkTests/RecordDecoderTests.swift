// The record decoder: exact values for every time format and device form, fallbacks to
// the message key and timestamp, skipped members, and each malformed-record reason.
import Streaming
import Testing
import Tidemark

private let schema = RecordSchema(
    deviceField: "device", timeField: "ts", numericFields: ["temperature", "humidity", "level"],
    strictNumericSlots: [0, 1], stringFields: ["status"])

/// What a decode produced, in plain values.
private struct Decoded: Equatable, CustomStringConvertible {
    var device: String
    var time: Int64
    var numbers: [Double?]
    var status: String?
    var members: [String]

    var description: String { "\(device) \(time) \(numbers) \(status ?? "nil") \(members)" }
}

private func decode(
    _ json: String, schema: RecordSchema = schema, key: String? = nil, timestamp: Int64? = nil, maxBytes: Int = 1 << 20
) -> Result<Decoded, RecordDecodeFailure> {
    var decoder = RecordDecoder(schema: schema, maxBytes: maxBytes, collectsOtherMembers: true)
    let value = Array(json.utf8)
    let keyBytes = key.map { Array($0.utf8) }
    return value.withUnsafeBytes { value in
        let failure: RecordDecodeFailure?
        if let keyBytes {
            failure = keyBytes.withUnsafeBytes { decoder.decode(value: value, key: $0, timestamp: timestamp) }
        } else {
            failure = decoder.decode(value: value, key: nil, timestamp: timestamp)
        }
        if let failure { return .failure(failure) }
        let status = decoder.withStringFields(in: value) { slots in
            slots.first.flatMap { $0.map { String(decoding: $0, as: UTF8.self) } }
        }
        return .success(
            Decoded(
                device: String(decoding: decoder.device, as: UTF8.self), time: decoder.time,
                numbers: decoder.numbers.map { $0.isNaN ? nil : $0 }, status: status,
                members: decoder.otherMembers.map { String(decoding: value[$0], as: UTF8.self) }))
    }
}

@Suite struct RecordDecoderTests {
    @Test func designReading() {
        let result = decode(
            #"{"device":"dev-000017","ts":1764288012345,"temperature":31.2,"humidity":40.1}"#)
        #expect(
            result
                == .success(
                    Decoded(
                        device: "dev-000017", time: 1_764_288_012_345, numbers: [31.2, 40.1, nil], status: nil,
                        members: [#""temperature":31.2"#, #""humidity":40.1"#])))
    }

    @Test func timeFormats() {
        func time(_ ts: String) -> Int64? {
            try? decode(#"{"device":"d","ts":\#(ts)}"#).get().time
        }
        #expect(time("1764288012345") == 1_764_288_012_345)
        #expect(time("1764288012") == 1_764_288_012_000)
        #expect(time("1764288012.345678") == 1_764_288_012_345)
        #expect(time("1764288012.5") == 1_764_288_012_500)
        #expect(time("100000000000") == 100_000_000_000)
        #expect(time("99999999999") == 99_999_999_999_000)
        #expect(time("1.764288012345e12") == 1_764_288_012_345)
        #expect(time(#""2025-11-28T00:00:12.345Z""#) == 1_764_288_012_345)
        #expect(time(#""2025-11-28T00:00:12Z""#) == 1_764_288_012_000)
        #expect(time(#""2025-11-28T01:00:12.3+01:00""#) == 1_764_288_012_300)
        #expect(time(#""2025-11-27t19:00:12.345678-05:00""#) == 1_764_288_012_345)
        #expect(time(#""1970-01-01T00:00:00Z""#) == 0)
        #expect(time(#""2024-02-29T12:00:00Z""#) == 1_709_208_000_000)
    }

    @Test func deviceAsNumberAndEscapedStrings() throws {
        #expect(try decode(#"{"device":17,"ts":1}"#).get().device == "17")
        #expect(try decode(#"{"device":"d\"1\u00e9\n","ts":1}"#).get().device == "d\"1é\n")
        #expect(try decode(#"{"de\u0076ice":"x","ts":1}"#).get().device == "x")
        #expect(try decode(#"{"device":"x","ts":1,"status":"ok\tgo"}"#).get().status == "ok\tgo")
        #expect(try decode(#"{"device":"x","ts":1,"status":"fault"}"#).get().status == "fault")
    }

    @Test func keyAndTimestampFallbacks() {
        let fallback = RecordSchema(deviceField: nil, timeField: nil, numericFields: ["t"])
        #expect(
            decode(#"{"t":3}"#, schema: fallback, key: "dev-1", timestamp: 42)
                == .success(Decoded(device: "dev-1", time: 42, numbers: [3], status: nil, members: [#""t":3"#])))
        #expect(decode(#"{"t":3}"#, schema: fallback, key: nil, timestamp: 42) == .failure(.missingDevice))
        #expect(decode(#"{"t":3}"#, schema: fallback, key: "d", timestamp: nil) == .failure(.missingTime))
    }

    @Test func nestedValuesAreSkippedAndNullsAreMissing() {
        let json = #"""
            { "meta": {"a": [1, {"b": "}"}, [], {}], "c": null}, "device" : "d", "temperature": null,
              "ts": 5, "humidity": -1.5e2, "level": true, "list": ["x\"y", 2.5e-3, false] }
            """#
        #expect(
            decode(json)
                == .success(
                    Decoded(
                        device: "d", time: 5_000, numbers: [nil, -150, 1], status: nil,
                        members: [
                            #""meta": {"a": [1, {"b": "}"}, [], {}], "c": null}"#, #""temperature": null"#,
                            #""humidity": -1.5e2"#, #""level": true"#, #""list": ["x\"y", 2.5e-3, false]"#,
                        ])))
    }

    @Test func numbersAreCorrectlyRounded() {
        let numbers = ["0.1", "21.4", "-0.000123", "123456789012345678901234", "1e308", "4.9e-324", "0.30000000000000004"]
        for text in numbers {
            let value = try? decode(#"{"device":"d","ts":1,"level":\#(text)}"#).get().numbers[2]
            #expect(value == Double(text), "\(text)")
        }
    }

    @Test func lenientSlotsReadNonNumbersAsNull() throws {
        #expect(try decode(#"{"device":"d","ts":1,"level":"high"}"#).get().numbers == [nil, nil, nil])
        #expect(try decode(#"{"device":"d","ts":1,"level":{"x":1}}"#).get().numbers == [nil, nil, nil])
    }

    @Test func malformedRecords() {
        #expect(decode("") == .failure(.notJSON))
        #expect(decode("hello") == .failure(.notJSON))
        #expect(decode("[1,2]") == .failure(.notAnObject))
        #expect(decode(#""just a string""#) == .failure(.notAnObject))
        #expect(decode(#"{"device":"d","ts":1,}"#) == .failure(.notJSON))
        #expect(decode(#"{"device":"d","ts":1} x"#) == .failure(.notJSON))
        #expect(decode(#"{"device":"d","ts":01}"#) == .failure(.notJSON))
        #expect(decode(#"{"device":"d","ts":1,"x":"a\qb"}"#) == .failure(.notJSON))
        #expect(decode("{\"device\":\"d\",\"ts\":1,\"x\":\"tab\tin\"}") == .failure(.notJSON))
        var invalid = Array(#"{"device":"d","ts":1,"x":"ab"}"#.utf8)
        invalid[27] = 0xC3  // a lead byte followed by 'b'
        var decoder = RecordDecoder(schema: schema)
        #expect(invalid.withUnsafeBytes { decoder.decode(value: $0) } == .invalidUTF8)
        #expect(decode(#"{"ts":1}"#) == .failure(.missingDevice))
        #expect(decode(#"{"device":null,"ts":1}"#) == .failure(.missingDevice))
        #expect(decode(#"{"device":"","ts":1}"#) == .failure(.missingDevice))
        #expect(decode(#"{"device":["d"],"ts":1}"#) == .failure(.invalidDevice))
        #expect(decode(#"{"device":"d"}"#) == .failure(.missingTime))
        #expect(decode(#"{"device":"d","ts":null}"#) == .failure(.missingTime))
        #expect(decode(#"{"device":"d","ts":"yesterday"}"#) == .failure(.invalidTime))
        #expect(decode(#"{"device":"d","ts":"2025-02-30T00:00:00Z"}"#) == .failure(.invalidTime))
        #expect(decode(#"{"device":"d","ts":"2025-11-28T00:00:00"}"#) == .failure(.invalidTime))
        #expect(decode(#"{"device":"d","ts":true}"#) == .failure(.invalidTime))
        #expect(decode(#"{"device":"d","ts":1,"temperature":"31.2"}"#) == .failure(.wrongFieldType))
        #expect(decode(#"{"device":"d","ts":1,"humidity":[1]}"#) == .failure(.wrongFieldType))
        #expect(decode(#"{"device":"d","ts":1}"#, maxBytes: 10) == .failure(.oversized))
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(decode(#"{"device":"d","ts":1,"x":\#(deep)}"#) == .failure(.tooDeep))
        #expect(RecordDecodeFailure.wrongFieldType.message == "an aggregated field is not a number")
    }

    @Test func decoderIsReusedAcrossRecords() {
        var decoder = RecordDecoder(schema: schema, collectsOtherMembers: true)
        let first = Array(#"{"device":"aaaa","ts":1,"temperature":1,"status":"x"}"#.utf8)
        let second = Array(#"{"device":"b","ts":2}"#.utf8)
        #expect(first.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(second.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(decoder.device == Array("b".utf8))
        #expect(decoder.numbers[0].isNaN)
        #expect(decoder.otherMembers.isEmpty)
        #expect(second.withUnsafeBytes { value in decoder.withStringFields(in: value) { $0[0] == nil } })
    }

    @Test func recordTriggerOnDecodedFields() throws {
        let app = try AppDefinition.parse(yaml: designExample, file: "t.yaml")
        var decoder = RecordDecoder(schema: RecordSchema(app: app))
        let hot = Array(#"{"device":"d","ts":1,"temperature":31.2}"#.utf8)
        #expect(hot.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(decoder.numbers.withUnsafeBufferPointer { app.triggers[0].condition.evaluate(numbers: $0) })
    }

    @Test func otherMembersAreCollectedOnlyOnRequest() {
        var decoder = RecordDecoder(schema: schema)
        let value = Array(#"{"device":"d","ts":1,"temperature":2,"fw":"1.4.2"}"#.utf8)
        #expect(value.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(decoder.otherMembers.isEmpty)
        #expect(decoder.numbers[0] == 2)
    }

    /// Keys are compared as a length and two 8-byte words, then memcmp past 16 bytes: keys of
    /// every length class, near misses in each word, and keys ending the buffer.
    @Test func keysOfEveryLengthMatchExactly() {
        let fields = ["t", "eightchr", "ninechars", "sixteen_chars_ok", "seventeen_chars_x", "a_rather_long_field_name_of_40_bytes_xyz"]
        let longSchema = RecordSchema(deviceField: "device", timeField: "ts", numericFields: fields)
        let members = fields.enumerated().map { #""\#($0.element)":\#($0.offset + 1)"# }.joined(separator: ",")
        #expect(
            decode(#"{"device":"d","ts":1,\#(members)}"#, schema: longSchema).map(\.numbers)
                == .success([1, 2, 3, 4, 5, 6]))
        // One byte off in the first word, the second word, and past sixteen bytes; one longer.
        let nearMisses = [
            "u", "eightchX", "ninecharX", "sixteen_chars_oK", "seventeen_chars_y", "a_rather_long_field_name_of_40_bytes_xyZ",
            "eightchrs", "tt",
        ]
        let missed = nearMisses.map { #""\#($0)":9"# }.joined(separator: ",")
        #expect(
            decode(#"{"device":"d","ts":1,\#(missed)}"#, schema: longSchema).map(\.numbers)
                == .success([nil, nil, nil, nil, nil, nil]))
        // Escaped keys still match by their unescaped text.
        #expect(
            decode(#"{"device":"d","ts":1,"ninechar\u0073":7}"#, schema: longSchema).map(\.numbers)
                == .success([nil, nil, 7, nil, nil, nil]))
        // The last key sits within eight bytes of the end of the buffer.
        #expect(decode(#"{"ts":1,"device":"d","t":5}"#, schema: longSchema).map(\.numbers.first) == .success(5))
        #expect(decode(#"{"ts":1,"t":5,"device":"d"}"#, schema: longSchema).map(\.device) == .success("d"))
    }

    /// Strings are scanned eight bytes at a time up to the first special byte: a quote,
    /// backslash, control or non-ASCII byte at every offset of the word still counts.
    @Test func specialBytesAtEveryOffsetOfAWord() {
        for offset in 0..<9 {
            let pad = String(repeating: "x", count: offset)
            #expect(decode(#"{"device":"d","ts":1,"status":"\#(pad)"}"#).map(\.status) == .success(pad))
            #expect(decode(#"{"device":"d","ts":1,"status":"\#(pad)\n\#(pad)"}"#).map(\.status) == .success(pad + "\n" + pad))
            #expect(decode(#"{"device":"d","ts":1,"status":"\#(pad)é\#(pad)"}"#).map(\.status) == .success(pad + "é" + pad))
            #expect(decode("{\"device\":\"d\",\"ts\":1,\"status\":\"\(pad)\u{1}\"}") == .failure(.notJSON))
            var invalid = Array(#"{"device":"d","ts":1,"status":"\#(pad)ab"}"#.utf8)
            invalid[31 + offset] = 0xFF
            var decoder = RecordDecoder(schema: schema)
            let failure = invalid.withUnsafeBytes { decoder.decode(value: $0) }
            #expect(failure == .invalidUTF8, "offset \(offset)")
        }
    }

    /// Skipped numbers are checked for grammar though their value is not computed.
    @Test func skippedNumbersAreValidated() {
        for good in ["0", "-0", "12", "-3.25", "1e5", "1E+5", "2.5e-3", "123456789012345678901234567890"] {
            #expect(decode(#"{"device":"d","ts":1,"x":\#(good)}"#).map(\.time) == .success(1_000), "\(good)")
        }
        for bad in ["-", "01", "1.", "1.e3", "1e", "1e+", ".5", "+1", "--1"] {
            #expect(decode(#"{"device":"d","ts":1,"x":\#(bad)}"#) == .failure(.notJSON), "\(bad)")
        }
    }
}

/// Records a hostile or broken sender may write: repeated keys and numbers no double holds.
@Suite struct RecordDecoderHostileTests {
    @Test func theLastMemberOfARepeatedKeyWinsWhateverItsType() {
        #expect(decode(#"{"device":"d","ts":1,"temperature":1,"temperature":99}"#).map(\.numbers) == .success([99, nil, nil]))
        #expect(decode(#"{"device":"d","ts":1,"temperature":1,"temperature":null}"#).map(\.numbers) == .success([nil, nil, nil]))
        #expect(decode(#"{"device":"d","ts":1,"level":true,"level":"high"}"#).map(\.numbers) == .success([nil, nil, nil]))
        #expect(decode(#"{"device":"d","ts":1,"level":{"a":1},"level":false}"#).map(\.numbers) == .success([nil, nil, 0]))
        #expect(decode(#"{"device":"d","ts":1,"status":"ok","status":3}"#).map(\.status) == .success(nil))
        #expect(decode(#"{"device":"d","ts":1,"status":3,"status":"o\u006b"}"#).map(\.status) == .success("ok"))
        #expect(decode(#"{"device":"a","ts":1,"device":"b","ts":2}"#).map { "\($0.device) \($0.time)" } == .success("b 2000"))
    }

    @Test func aProblemWithAValueALaterMemberReplacesDoesNotCount() {
        #expect(decode(#"{"device":null,"ts":1,"device":"d"}"#).map(\.device) == .success("d"))
        #expect(decode(#"{"device":["d"],"ts":"yesterday","device":"d","ts":2}"#).map(\.time) == .success(2_000))
        #expect(decode(#"{"device":"d","ts":1,"temperature":"hot","temperature":20}"#).map(\.numbers) == .success([20, nil, nil]))
        // …and the other way round: the last value is the one judged.
        #expect(decode(#"{"device":"d","ts":1,"device":null}"#) == .failure(.missingDevice))
        #expect(decode(#"{"device":"d","ts":1,"ts":null}"#) == .failure(.missingTime))
        #expect(decode(#"{"device":"d","ts":1,"ts":"noon"}"#) == .failure(.invalidTime))
        #expect(decode(#"{"device":"d","ts":1,"temperature":20,"temperature":"hot"}"#) == .failure(.wrongFieldType))
        // Broken text is broken wherever it is.
        #expect(decode(#"{"device":"d","ts":1,"temperature":"hot","temperature":20"#) == .failure(.notJSON))
    }

    @Test func aNumberNoDoubleHoldsIsOutOfRangeWhereverItIs() {
        for json in [
            #"{"device":"d","ts":1,"temperature":1e999}"#,
            #"{"device":"d","ts":1,"level":-1e400}"#,
            #"{"device":"d","ts":1,"status":1e309}"#,
            #"{"device":"d","ts":1,"skipped":{"deep":[1E+999]}}"#,
            #"{"device":"d","ts":1e999}"#,
            #"{"device":1e999,"ts":1}"#,
            #"{"device":"d","ts":1,"x":1\#(String(repeating: "0", count: 400))}"#,
        ] {
            #expect(decode(json) == .failure(.numberOutOfRange), "\(json)")
        }
        // Tiny numbers round to zero; the largest double and long integers below it are fine.
        #expect(decode(#"{"device":"d","ts":1,"temperature":1e-999,"humidity":1.7976931348623157e308}"#).map(\.numbers) == .success([0, .greatestFiniteMagnitude, nil]))
        #expect(decode(#"{"device":"d","ts":1,"x":1\#(String(repeating: "0", count: 300))}"#).map(\.time) == .success(1_000))
        #expect(RecordDecodeFailure.numberOutOfRange.message == "number out of range")
    }
}
