// Output records: exact bytes of series results and trigger events.
import Streaming
import Testing
import Tidemark

private let series = SeriesSpec(
    name: "mean_temperature", window: .tumbling(size: 1_800_000),
    aggregates: [
        AggregateSpec(name: "mean", function: .mean, field: 0),
        AggregateSpec(name: "max", function: .max, field: 0),
        AggregateSpec(name: "count", function: .count, field: nil),
    ])

private func text(_ encoder: OutputEncoder) -> String {
    String(decoding: encoder.bytes, as: UTF8.self)
}

@Suite struct OutputEncoderTests {
    @Test func seriesResultMatchesTheContract() {
        var encoder = OutputEncoder()
        let layout = SeriesResultLayout(app: "thermostat", series: series)
        Array("dev-000017".utf8).withUnsafeBytes { device in
            [21.4, 23.9, 360].withUnsafeBufferPointer { values in
                encoder.encodeSeriesResult(
                    layout, device: device, start: 1_764_288_000_000, end: 1_764_289_800_000, revision: 0,
                    timing: .onTime, values: values)
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"thermostat","series":"mean_temperature","device":"dev-000017","start":1764288000000,"end":1764289800000,"revision":0,"timing":"on_time","mean":21.4,"max":23.9,"count":360}"#
        )
    }

    /// The timing follows the revision: early (before the window closed), on time, late.
    @Test func timingFollowsTheRevision() {
        var encoder = OutputEncoder()
        let layout = SeriesResultLayout(app: "thermostat", series: series)
        func result(_ revision: Int, _ timing: ResultTiming) -> String {
            Array("d".utf8).withUnsafeBytes { device in
                [21.4, 23.9, 360].withUnsafeBufferPointer { values in
                    encoder.encodeSeriesResult(
                        layout, device: device, start: 0, end: 1_800_000, revision: revision, timing: timing, values: values)
                }
            }
            return text(encoder)
        }
        let head = #"{"app":"thermostat","series":"mean_temperature","device":"d","start":0,"end":1800000,"#
        let tail = #","mean":21.4,"max":23.9,"count":360}"#
        #expect(result(0, .early) == head + #""revision":0,"timing":"early""# + tail)
        #expect(result(0, .onTime) == head + #""revision":0,"timing":"on_time""# + tail)
        #expect(result(4, .late) == head + #""revision":4,"timing":"late""# + tail)
    }

    /// Comparisons follow the aggregates, each an object of the series' aggregates or null,
    /// and name their own overflowed aggregates; the result's own overflow list comes last.
    @Test func comparisonsAreObjectsOrNull() {
        var compared = series
        compared.comparisons = [
            ComparisonSpec(name: "yesterday", reach: .offset(86_400_000)),
            ComparisonSpec(name: "last_week", reach: .offset(604_800_000)),
            ComparisonSpec(name: "trailing", reach: .over(21_600_000)),
        ]
        var encoder = OutputEncoder()
        let layout = SeriesResultLayout(app: "thermostat", series: compared)
        let comparisons: [Double] = [60, 20.1, 23, 60, 0, .nan, .nan, .nan, 2, AggregateValue.overflow, 9, 2]
        Array("d".utf8).withUnsafeBytes { device in
            [AggregateValue.overflow, 23.9, 360].withUnsafeBufferPointer { values in
                comparisons.withUnsafeBufferPointer { comparisons in
                    encoder.encodeSeriesResult(
                        layout, device: device, start: 0, end: 1_800_000, revision: 2, timing: .late, values: values,
                        comparisons: comparisons)
                }
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"thermostat","series":"mean_temperature","device":"d","start":0,"end":1800000,"revision":2,"timing":"late","mean":null,"max":23.9,"count":360,"yesterday":{"mean":20.1,"max":23,"count":60},"last_week":null,"trailing":{"mean":null,"max":9,"count":2,"overflow":["mean"]},"overflow":["mean"]}"#
        )
    }

    @Test func numberFormsAndEscaping() {
        var encoder = OutputEncoder()
        let layout = SeriesResultLayout(app: "a\"b", series: series)
        Array("d\\1\n".utf8).withUnsafeBytes { device in
            [Double.nan, -0.5, 1e21].withUnsafeBufferPointer { values in
                encoder.encodeSeriesResult(layout, device: device, start: -1, end: 0, revision: 3, timing: .late, values: values)
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"a\"b","series":"mean_temperature","device":"d\\1\n","start":-1,"end":0,"revision":3,"timing":"late","mean":null,"max":-0.5,"count":1e+21}"#
        )
        Array("x".utf8).withUnsafeBytes { device in
            [Double.infinity, 9_007_199_254_740_991, 0.1 + 0.2].withUnsafeBufferPointer { values in
                encoder.encodeSeriesResult(layout, device: device, start: 0, end: 1, revision: 0, timing: .early, values: values)
            }
        }
        #expect(text(encoder).hasSuffix(#""mean":null,"max":9007199254740991,"count":0.30000000000000004}"#))
    }

    @Test func recordTriggerEventCopiesTheOtherMembers() {
        var decoder = RecordDecoder(
            schema: RecordSchema(deviceField: "device", timeField: "ts", numericFields: ["temperature"]),
            collectsOtherMembers: true)
        var encoder = OutputEncoder()
        let layout = TriggerEventLayout(app: "thermostat", trigger: "bad_temperature")
        let value = Array(#"{"device":"dev-000017","ts":1764288012345,"temperature":31.2,"humidity":40.1}"#.utf8)
        value.withUnsafeBytes { record in
            #expect(decoder.decode(value: record) == nil)
            decoder.device.withUnsafeBytes { device in
                encoder.encodeRecordTriggerEvent(
                    layout, device: device, time: decoder.time, record: record, members: decoder.otherMembers)
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"thermostat","trigger":"bad_temperature","device":"dev-000017","time":1764288012345,"value":{"temperature":31.2,"humidity":40.1}}"#
        )
    }

    @Test func seriesTriggerEventCarriesTheResult() {
        var encoder = OutputEncoder()
        Array("dev-000017".utf8).withUnsafeBytes { device in
            [28.5, 30, 12].withUnsafeBufferPointer { values in
                encoder.encodeSeriesTriggerEvent(
                    TriggerEventLayout(app: "thermostat", trigger: "hot_room"),
                    series: SeriesResultLayout(app: "thermostat", series: series), device: device,
                    start: 1_764_288_000_000, end: 1_764_289_800_000, revision: 1, timing: .late, values: values)
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"thermostat","trigger":"hot_room","device":"dev-000017","time":1764288000000,"value":{"app":"thermostat","series":"mean_temperature","device":"dev-000017","start":1764288000000,"end":1764289800000,"revision":1,"timing":"late","mean":28.5,"max":30,"count":12}}"#
        )
    }

    @Test func aRepeatedKeyAppearsOnceInATriggerEventWithItsLastValue() {
        var decoder = RecordDecoder(
            schema: RecordSchema(deviceField: "device", timeField: "ts", numericFields: ["temperature"]),
            collectsOtherMembers: true)
        var encoder = OutputEncoder()
        let layout = TriggerEventLayout(app: "a", trigger: "t")
        func event(_ json: String) -> String {
            let value = Array(json.utf8)
            value.withUnsafeBytes { record in
                #expect(decoder.decode(value: record) == nil)
                decoder.device.withUnsafeBytes { device in
                    encoder.encodeRecordTriggerEvent(
                        layout, device: device, time: decoder.time, record: record, members: decoder.otherMembers)
                }
            }
            // What follows the event's time.
            return String(text(encoder).split(separator: ",\"time\":1000,", maxSplits: 1).last ?? "")
        }
        #expect(event(#"{"device":"d","ts":1,"temperature":1,"humidity":5,"temperature":99}"#) == #""value":{"humidity":5,"temperature":99}}"#)
        // Keys are the same text once unescaped.
        #expect(event(#"{"device":"d","ts":1,"x":1,"\u0078":2,"y":3,"\u0079":{}}"#) == #""value":{"\u0078":2,"\u0079":{}}}"#)
        // Past the pairwise limit, the same through a table.
        let many = (0..<40).map { #""k\#($0 % 20)":\#($0)"# }.joined(separator: ",")
        let last = (20..<40).map { #""k\#($0 % 20)":\#($0)"# }.joined(separator: ",")
        #expect(event(#"{"device":"d","ts":1,\#(many)}"#) == #""value":{\#(last)}}"#)
    }

    @Test func aResultWithOverflowedAggregatesNamesThem() {
        var encoder = OutputEncoder()
        let layout = SeriesResultLayout(
            app: "a",
            series: SeriesSpec(
                name: "s", window: .tumbling(size: 60_000),
                aggregates: [
                    AggregateSpec(name: "sum", function: .sum, field: 0), AggregateSpec(name: "max", function: .max, field: 0),
                    AggregateSpec(name: "mean \"x\"", function: .mean, field: 0),
                ]))
        Array("d".utf8).withUnsafeBytes { device in
            [AggregateValue.overflow, 1e308, AggregateValue.overflow].withUnsafeBufferPointer { values in
                encoder.encodeSeriesResult(layout, device: device, start: 0, end: 60_000, revision: 0, timing: .onTime, values: values)
            }
        }
        #expect(
            text(encoder)
                == #"{"app":"a","series":"s","device":"d","start":0,"end":60000,"revision":0,"timing":"on_time","sum":null,"max":1e+308,"mean \"x\"":null,"overflow":["sum","mean \"x\""]}"#
        )
    }
}
