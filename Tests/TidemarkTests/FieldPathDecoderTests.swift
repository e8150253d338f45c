// The record decoder on field paths: nested device, time and fields, keys only backquotes
// reach, the last member winning at every level, booleans, and the epoch-time rule.
import Streaming
import Testing
import Tidemark

private let nested = RecordSchema(
    deviceField: "meta.id", timeField: "payload.ts",
    numericFields: ["payload.temp", "payload.env.humidity", "ok"], strictNumericSlots: [0],
    stringFields: ["payload.status"])

/// What a decode produced, in plain values.
private struct Decoded: Equatable, CustomStringConvertible {
    var device: String
    var time: Int64
    var numbers: [Double?]
    var strings: [String?]
    var members: [String]

    var description: String { "\(device) \(time) \(numbers) \(strings) \(members)" }
}

private func decode(_ json: String, schema: RecordSchema = nested) -> Result<Decoded, RecordDecodeFailure> {
    var decoder = RecordDecoder(schema: schema, collectsOtherMembers: true)
    let value = Array(json.utf8)
    return value.withUnsafeBytes { value in
        if let failure = decoder.decode(value: value) {
            return .failure(failure)
        }
        let strings = decoder.withStringFields(in: value) { slots in
            slots.map { $0.map { String(decoding: $0, as: UTF8.self) } }
        }
        return .success(
            Decoded(
                device: String(decoding: decoder.device, as: UTF8.self), time: decoder.time,
                numbers: decoder.numbers.map { $0.isNaN ? nil : $0 }, strings: strings,
                members: decoder.otherMembers.map { String(decoding: value[$0], as: UTF8.self) }))
    }
}

private func numbers(_ json: String, _ fields: [String], strict: Set<Int> = []) -> Result<[Double?], RecordDecodeFailure> {
    decode(json, schema: RecordSchema(deviceField: "d", timeField: "t", numericFields: fields, strictNumericSlots: strict))
        .map(\.numbers)
}

private func time(_ number: String, unit: EpochUnit?) -> Result<Int64, RecordDecodeFailure> {
    decode(#"{"d":"x","t":\#(number)}"#, schema: RecordSchema(deviceField: "d", timeField: "t", timeUnit: unit, numericFields: []))
        .map(\.time)
}

@Suite struct FieldPathDecoderTests {
    @Test func nestedDeviceTimeNumbersAndStrings() throws {
        let record = #"{"meta":{"fw":"1.2","id":"dev-1"},"payload":{"ts":1764288012345,"temp":21.5,"env":{"humidity":40,"x":[1]},"status":"o\u006b"},"ok":true,"x":[{"id":"no"}]}"#
        #expect(
            decode(record)
                == .success(
                    Decoded(
                        device: "dev-1", time: 1_764_288_012_345, numbers: [21.5, 40, 1], strings: ["ok"],
                        // Members holding the device or time are copied whole.
                        members: [
                            #""meta":{"fw":"1.2","id":"dev-1"}"#,
                            #""payload":{"ts":1764288012345,"temp":21.5,"env":{"humidity":40,"x":[1]},"status":"o\u006b"}"#,
                            #""ok":true"#, #""x":[{"id":"no"}]"#,
                        ])))
        // Keys of the same name elsewhere are not the path.
        #expect(
            decode(#"{"id":"top","ts":1,"meta":{"meta":{"id":"deep"}},"payload":{"ts":2}}"#)
                == .failure(.missingDevice))
        // JSON escapes in member keys match at every level.
        #expect(try decode(#"{"m\u0065ta":{"\u0069d":"e"},"payload":{"ts":2}}"#).get().device == "e")
    }

    @Test func deepPathsAreFollowedToTheNestingBound() throws {
        let segments = (0..<40).map { "k\($0)" }
        let schema = RecordSchema(deviceField: "d", timeField: "t", numericFields: [segments.joined(separator: ".")])
        let value = segments.dropFirst().reversed().reduce("7") { inner, key in #"{"pad":[1],"\#(key)":\#(inner)}"# }
        #expect(try decode(#"{"d":"x","t":1,"k0":\#(value)}"#, schema: schema).get().numbers == [7])
        // A path deeper than the decoder follows meets the nesting bound.
        let tooDeep = (0..<70).map { "k\($0)" }
        let deepSchema = RecordSchema(deviceField: "d", timeField: "t", numericFields: [tooDeep.joined(separator: ".")])
        let deepValue = tooDeep.dropFirst().reversed().reduce("7") { inner, key in #"{"\#(key)":\#(inner)}"# }
        #expect(decode(#"{"d":"x","t":1,"k0":\#(deepValue)}"#, schema: deepSchema) == .failure(.tooDeep))
    }

    @Test func aPathThroughANonObjectIsMissing() {
        for meta in ["5", #""dev""#, "null", "true", #"[{"id":"a"}]"#, "{}"] {
            #expect(decode(#"{"meta":\#(meta),"payload":{"ts":1}}"#) == .failure(.missingDevice), "meta: \(meta)")
        }
        #expect(decode(#"{"meta":{"id":"a"},"payload":[{"ts":1}]}"#) == .failure(.missingTime))
        // A strict field under a non-object is missing, not of the wrong type.
        #expect(
            decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":"hot","env":3}}"#) == .failure(.wrongFieldType))
        #expect(
            decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"env":3}}"#).map(\.numbers) == .success([nil, nil, nil]))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"env":{"humidity":{"v":1}}}}"#).map(\.numbers) == .success([nil, nil, nil]))
    }

    @Test func theLastMemberOfAKeyWinsAtEveryLevel() {
        // Top level: a later object replaces all the earlier one held.
        #expect(decode(#"{"meta":{"id":"a"},"meta":{"id":"b"},"payload":{"ts":1}}"#).map(\.device) == .success("b"))
        #expect(decode(#"{"meta":{"id":"a"},"meta":{"fw":1},"payload":{"ts":1}}"#) == .failure(.missingDevice))
        #expect(decode(#"{"meta":{"id":"a"},"meta":7,"payload":{"ts":1}}"#) == .failure(.missingDevice))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":1},"payload":{"temp":2}}"#) == .failure(.missingTime))
        let replaced = decode(
            #"{"meta":{"id":"a"},"payload":{"ts":1,"temp":1,"env":{"humidity":2},"status":"s"},"payload":{"ts":3,"temp":4}}"#)
        #expect(replaced.map(\.time) == .success(3000))
        #expect(replaced.map(\.numbers) == .success([4, nil, nil]))
        #expect(replaced.map(\.strings) == .success([nil]))
        // Inside an object.
        #expect(decode(#"{"meta":{"id":"a","id":"b"},"payload":{"ts":1}}"#).map(\.device) == .success("b"))
        #expect(decode(#"{"meta":{"id":null,"id":"b"},"payload":{"ts":1}}"#).map(\.device) == .success("b"))
        #expect(decode(#"{"meta":{"id":"b","id":null},"payload":{"ts":1}}"#) == .failure(.missingDevice))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"env":{"humidity":1},"env":{"humidity":2},"ts":1}}"#).map(\.numbers) == .success([nil, 2, nil]))
        // A problem inside an object that a later member replaces does not count.
        #expect(decode(#"{"meta":{"id":["x"]},"meta":{"id":"a"},"payload":{"ts":1}}"#).map(\.device) == .success("a"))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":"noon"},"payload":{"ts":1}}"#).map(\.time) == .success(1000))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":"hot"},"payload":{"ts":1}}"#).map(\.numbers) == .success([nil, nil, nil]))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":"hot"},"payload":5,"payload":{"ts":1}}"#).map(\.numbers) == .success([nil, nil, nil]))
        #expect(decode(#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":2},"payload":{"ts":1,"temp":"hot"}}"#) == .failure(.wrongFieldType))
    }

    @Test func aKeyThatIsAFieldAndBeginsAPath() {
        #expect(numbers(#"{"d":"x","t":1,"a":{"b":1}}"#, ["a", "a.b"]) == .success([nil, 1]))
        #expect(numbers(#"{"d":"x","t":1,"a":3}"#, ["a", "a.b"]) == .success([3, nil]))
        #expect(numbers(#"{"d":"x","t":1,"a":{"b":1}}"#, ["a", "a.b"], strict: [0]) == .failure(.wrongFieldType))
        #expect(numbers(#"{"d":"x","t":1,"a":{"b":1},"a":2}"#, ["a", "a.b"], strict: [0]) == .success([2, nil]))
    }

    @Test func backquotesReachKeysWithDotsAndKeywords() {
        let fields = ["`a.b`", "a.b", "meta.`x.y`", "`and`", "`true`", "`x``y`", "`with space`.v"]
        #expect(
            numbers(#"{"d":"x","t":1,"a.b":1,"a":{"b":2,"a.b":8},"meta":{"x.y":3,"x":{"y":9}},"and":4,"true":5,"x`y":6,"with space":{"v":7}}"#, fields)
                == .success([1, 2, 3, 4, 5, 6, 7]))
        // Two spellings of one path are one field.
        #expect(numbers(#"{"d":"x","t":1,"a":{"b":2}}"#, ["`a`.`b`"]) == .success([2]))
    }

    @Test func booleansAreOneAndZeroInEverySlot() {
        #expect(
            numbers(#"{"d":"x","t":1,"ok":true,"no":false,"n":{"ok":true}}"#, ["ok", "no", "n.ok"], strict: [0, 1, 2])
                == .success([1, 0, 1]))
        #expect(numbers(#"{"d":"x","t":1,"ok":false,"ok":true}"#, ["ok"]) == .success([1]))
        // As a device id or a time, a boolean is neither.
        #expect(decode(#"{"d":true,"t":1}"#, schema: RecordSchema(deviceField: "d", timeField: "t", numericFields: [])) == .failure(.invalidDevice))
        #expect(time("true", unit: nil) == .failure(.invalidTime))
    }

    @Test func epochTimeByMagnitudeRefusesNegativeNumbers() {
        #expect(time("1764288012345", unit: nil) == .success(1_764_288_012_345))
        #expect(time("1764288012.5", unit: nil) == .success(1_764_288_012_500))
        #expect(time("0", unit: nil) == .success(0))
        #expect(time("-0", unit: nil) == .success(0))
        #expect(time("-0.000", unit: nil) == .success(0))
        #expect(time("-1000", unit: nil) == .failure(.negativeTime))
        #expect(time("-1764288012345", unit: nil) == .failure(.negativeTime))
        #expect(time("-0.5", unit: nil) == .failure(.negativeTime))
        #expect(time("-1e3", unit: nil) == .failure(.negativeTime))
        #expect(time("-1e999", unit: nil) == .failure(.numberOutOfRange))
        #expect(RecordDecodeFailure.negativeTime.message == "negative epoch time: set input.time_unit to say its unit")
        // A later member replaces a negative one.
        #expect(
            decode(#"{"d":"x","t":-5,"t":5}"#, schema: RecordSchema(deviceField: "d", timeField: "t", numericFields: []))
                .map(\.time) == .success(5000))
    }

    @Test func epochTimeInItsUnitRoundsDownToTheMillisecond() {
        // Seconds.
        #expect(time("1764288012", unit: .seconds) == .success(1_764_288_012_000))
        #expect(time("176428801234", unit: .seconds) == .success(176_428_801_234_000))
        #expect(time("1.0005", unit: .seconds) == .success(1000))
        #expect(time("-1", unit: .seconds) == .success(-1000))
        #expect(time("-1.5", unit: .seconds) == .success(-1500))
        #expect(time("-1.0005", unit: .seconds) == .success(-1001))
        #expect(time("-1.0000", unit: .seconds) == .success(-1000))
        #expect(time("-1.5e0", unit: .seconds) == .success(-1500))
        #expect(time("1e13", unit: .seconds) == .failure(.invalidTime))
        // Milliseconds, however small.
        #expect(time("1764288012", unit: .milliseconds) == .success(1_764_288_012))
        #expect(time("-1000", unit: .milliseconds) == .success(-1000))
        #expect(time("1000.9", unit: .milliseconds) == .success(1000))
        #expect(time("-1000.5", unit: .milliseconds) == .success(-1001))
        #expect(time("-1.7642880123e12", unit: .milliseconds) == .success(-1_764_288_012_300))
        // Microseconds.
        #expect(time("1764288012345678", unit: .microseconds) == .success(1_764_288_012_345))
        #expect(time("999", unit: .microseconds) == .success(0))
        #expect(time("-1000", unit: .microseconds) == .success(-1))
        #expect(time("-1500", unit: .microseconds) == .success(-2))
        #expect(time("-1000.5", unit: .microseconds) == .success(-2))
        // Strings are RFC 3339 whatever the unit.
        #expect(time(#""1970-01-01T00:00:01Z""#, unit: .microseconds) == .success(1000))
    }

    @Test func malformedNestedJSONIsStillRefused() {
        let cases: [(String, RecordDecodeFailure)] = [
            (#"{"meta":{"id":"a",},"payload":{"ts":1}}"#, .notJSON),
            (#"{"meta":{"id":"a""#, .notJSON),
            (#"{"meta":{"id":"a" "fw":1},"payload":{"ts":1}}"#, .notJSON),
            (#"{"meta":{"id" "a"},"payload":{"ts":1}}"#, .notJSON),
            (#"{"meta":{"id":"a"},"payload":{"ts":1}"#, .notJSON),
            (#"{"meta":{"id":"a"}},"payload":{"ts":1}}"#, .notJSON),
            (#"{"meta":{"id":tru},"payload":{"ts":1}}"#, .notJSON),
            (#"{"meta":{"fw":1e999,"id":"a"},"payload":{"ts":1}}"#, .numberOutOfRange),
            (#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":1e999}}"#, .numberOutOfRange),
            ("{\"meta\":{\"id\":\"\u{1}\"},\"payload\":{\"ts\":1}}", .notJSON),
        ]
        for (record, failure) in cases {
            #expect(decode(record) == .failure(failure), "\(record)")
        }
        let invalidUTF8: [UInt8] = Array(#"{"meta":{"id":""#.utf8) + [0xFF] + Array(#""},"payload":{"ts":1}}"#.utf8)
        var decoder = RecordDecoder(schema: nested)
        #expect(invalidUTF8.withUnsafeBytes { decoder.decode(value: $0) } == .invalidUTF8)
    }

    @Test func theDecoderIsReusedAcrossNestedRecords() {
        var decoder = RecordDecoder(schema: nested)
        let first = Array(#"{"meta":{"id":"a"},"payload":{"ts":1,"temp":2,"status":"s"}}"#.utf8)
        let second = Array(#"{"meta":{"id":"b"},"payload":{"ts":2}}"#.utf8)
        #expect(first.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(second.withUnsafeBytes { decoder.decode(value: $0) } == nil)
        #expect(decoder.device == Array("b".utf8))
        #expect(decoder.numbers[0].isNaN)
        #expect(second.withUnsafeBytes { value in decoder.withStringFields(in: value) { $0[0] == nil } })
    }
}
