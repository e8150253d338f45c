// The code that reads untrusted bytes, behind one call each: a message value through the
// record decoder and the output encoder, an app file through the loader, a trigger expression
// through the parser, compiler and evaluator. The libFuzzer targets in Fuzz/ and the corpus
// smoke test share these calls, so each checks the same promises; a broken one traps.
import Streaming

/// Entry points for fuzzing: each takes arbitrary bytes, must not crash, and traps (so a
/// fuzzer reports it) when a result breaks a promise the rest of Tidemark relies on.
public enum FuzzTargets {
    /// Decodes `bytes` as a message value of an app reading `device`, `ts`, five numeric
    /// fields (two of them aggregated, so strict; two nested under `env`) and two string
    /// fields (one nested); on success encodes the record's trigger event and a series result
    /// from its numbers, and checks both are JSON objects whose keys are unique.
    ///
    /// - Returns: `record DEVICE TIME` or `malformed: REASON`.
    public static func decodeRecord(_ bytes: UnsafeRawBufferPointer) -> String {
        var decoder = RecordDecoder(schema: recordSchema, maxBytes: 1 << 16, collectsOtherMembers: true)
        if let failure = decoder.decode(value: bytes) { return "malformed: \(failure.message)" }
        precondition(!decoder.device.isEmpty, "a decoded record has a device")
        for number in decoder.numbers { precondition(number.isNaN || number.isFinite, "a field is a finite number or null") }
        decoder.withStringFields(in: bytes) { strings in
            for case let string? in strings {
                precondition(String(validating: string, as: UTF8.self) != nil, "a string field is UTF-8")
            }
        }

        var encoder = OutputEncoder()
        decoder.device.withUnsafeBytes { device in
            encoder.encodeRecordTriggerEvent(
                triggerLayout, device: device, time: decoder.time, record: bytes, members: decoder.otherMembers)
        }
        checkObject(encoder.bytes, valueMember: "value")
        decoder.device.withUnsafeBytes { device in
            var values = decoder.numbers
            values[0] = AggregateValue.overflow
            values.withUnsafeBufferPointer { values in
                encoder.encodeSeriesResult(seriesLayout, device: device, start: decoder.time, end: decoder.time, revision: 0, timing: .onTime, values: values)
            }
        }
        checkObject(encoder.bytes, valueMember: nil)
        return "record \(String(decoding: decoder.device, as: UTF8.self)) \(decoder.time)"
    }

    /// Loads `bytes` as the app file `fuzz.yaml`; an app that loads must start and keep the
    /// topic rules, and every error must name the file and a real position.
    ///
    /// - Returns: `app NAME` or the errors, one a line.
    public static func loadAppFile(_ bytes: UnsafeRawBufferPointer) -> String {
        let file = "fuzz.yaml"
        guard let yaml = String(validating: bytes, as: UTF8.self) else {
            let (line, column, _) = ConfigFile.firstInvalidUTF8(Array(bytes))
            precondition(line >= 1 && column >= 1, "an invalid byte has a position")
            return "\(file):\(line):\(column): error: not UTF-8 text"
        }
        do {
            let app = try AppDefinition.parse(yaml: yaml, file: file)
            do {
                _ = try AppProcessor(app: app)
            } catch {
                preconditionFailure("an app that loads starts: \(error)")
            }
            for topic in [app.input.topic] + app.outputTopics {
                precondition(KafkaTopicName.problem(topic) == nil, "every topic is legal")
            }
            precondition(!app.outputTopics.contains(app.input.topic), "no app writes its own input")
            return "app \(app.name)"
        } catch {
            for problem in error.errors {
                precondition(problem.file == file, "an error names its file")
                precondition((problem.line ?? 1) >= 1 && (problem.column ?? 1) >= 1, "an error's position is in the file")
            }
            return error.description
        }
    }

    /// Parses, compiles and evaluates `bytes` as a trigger condition over any fields (each new
    /// name a new numeric slot); errors must point inside the text.
    ///
    /// - Returns: `true`, `false` or `error OFFSET: MESSAGE`.
    public static func evaluateExpression(_ bytes: UnsafeRawBufferPointer) -> String {
        let source = String(decoding: bytes, as: UTF8.self)
        var fields: [String] = []
        do throws(ExpressionError) {
            let condition = try TriggerCondition(source) { name in
                if let slot = fields.firstIndex(of: name) { return slot }
                fields.append(name)
                return fields.count - 1
            }
            let numbers = fields.indices.map { $0 % 3 == 0 ? Double.nan : Double($0) - 1.5 }
            return "\(condition.evaluate(numbers: numbers))"
        } catch {
            precondition(error.offset >= 0 && error.offset <= source.unicodeScalars.count, "an error points inside the text")
            return "error \(error.offset): \(error.message)"
        }
    }

    // MARK: Fixtures

    private static let recordSchema = RecordSchema(
        deviceField: "device", timeField: "ts",
        numericFields: ["temperature", "humidity", "level", "env.pressure", "env.wind.`m/s`"],
        strictNumericSlots: [0, 3], stringFields: ["status", "env.state"])
    private static let triggerLayout = TriggerEventLayout(app: "fuzz", trigger: "any")
    private static let seriesLayout = SeriesResultLayout(
        app: "fuzz",
        series: SeriesSpec(
            name: "s", window: .tumbling(size: 1),
            aggregates: [
                AggregateSpec(name: "sum", function: .sum, field: 0), AggregateSpec(name: "max", function: .max, field: 1),
                AggregateSpec(name: "last", function: .last, field: 2),
            ]))

    /// Traps unless `json` is one JSON object with unique keys whose `app` and `device` are
    /// strings; `valueMember`, when given, must be an object with unique keys too.
    private static func checkObject(_ json: [UInt8], valueMember: String?) {
        var decoder = RecordDecoder(
            schema: RecordSchema(deviceField: "device", timeField: nil, numericFields: []), collectsOtherMembers: true)
        json.withUnsafeBytes { object in
            precondition(decoder.decode(value: object, timestamp: 0) == nil, "an output record is a JSON object")
            var superseded = SupersededMembers()
            superseded.mark(record: object, members: decoder.otherMembers)
            for index in decoder.otherMembers.indices {
                precondition(!superseded.isSuperseded(index), "an output record has no repeated key")
            }
            guard let valueMember else { return }
            let key = Array("\"\(valueMember)\":".utf8)
            guard let member = decoder.otherMembers.first(where: { object[$0].starts(with: key) }) else {
                preconditionFailure("a trigger event has a value")
            }
            let value = UnsafeRawBufferPointer(rebasing: object[(member.lowerBound + key.count)..<member.upperBound])
            var inner = RecordDecoder(
                schema: RecordSchema(deviceField: nil, timeField: nil, numericFields: []), collectsOtherMembers: true)
            let one: [UInt8] = [0x31]
            one.withUnsafeBytes { deviceKey in
                precondition(inner.decode(value: value, key: deviceKey, timestamp: 0) == nil, "a trigger event's value is an object")
            }
            superseded.mark(record: value, members: inner.otherMembers)
            for index in inner.otherMembers.indices {
                precondition(!superseded.isSuperseded(index), "a trigger event's value has no repeated key")
            }
        }
    }
}
