// Writes series results and trigger events as JSON into one reusable byte buffer, with the
// constant parts of each record (app, series, keys) escaped once up front.
import Streaming

/// The constant parts of one series' result records.
package struct SeriesResultLayout: Sendable, Equatable {
    /// `{"app":"…","series":"…","device":"`
    let prefix: [UInt8]
    /// `,"name":` for each aggregate, in config order.
    let aggregateKeys: [[UInt8]]
    /// `"name"` for each aggregate, in config order, for the `overflow` list.
    let aggregateNames: [[UInt8]]
    /// `,"name":` for each comparison, in config order.
    let comparisonKeys: [[UInt8]]

    package init(app: String, series: SeriesSpec) {
        var prefix: [UInt8] = []
        prefix.append(contentsOf: #"{"app":"#.utf8)
        JSONWriter.appendString(app.utf8, to: &prefix)
        prefix.append(contentsOf: #","series":"#.utf8)
        JSONWriter.appendString(series.name.utf8, to: &prefix)
        prefix.append(contentsOf: ##","device":""##.utf8)
        self.prefix = prefix
        aggregateKeys = series.aggregates.map { aggregate in
            var key: [UInt8] = [UInt8(ascii: ",")]
            JSONWriter.appendString(aggregate.name.utf8, to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
        aggregateNames = series.aggregates.map { aggregate in
            var name: [UInt8] = []
            JSONWriter.appendString(aggregate.name.utf8, to: &name)
            return name
        }
        comparisonKeys = series.comparisons.map { comparison in
            var key: [UInt8] = [UInt8(ascii: ",")]
            JSONWriter.appendString(comparison.name.utf8, to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
    }
}

/// The constant parts of one trigger's events.
package struct TriggerEventLayout: Sendable, Equatable {
    /// `{"app":"…","trigger":"…","device":"`
    let prefix: [UInt8]

    package init(app: String, trigger: String) {
        var prefix: [UInt8] = []
        prefix.append(contentsOf: #"{"app":"#.utf8)
        JSONWriter.appendString(app.utf8, to: &prefix)
        prefix.append(contentsOf: #","trigger":"#.utf8)
        JSONWriter.appendString(trigger.utf8, to: &prefix)
        prefix.append(contentsOf: ##","device":""##.utf8)
        self.prefix = prefix
    }
}

/// Encodes output records into `bytes`, which each `encode…` call clears and refills.
///
/// Numbers: an integral Double with magnitude below 2^53 prints as an integer (`360`),
/// other finite Doubles in Swift's shortest round-trip form (`21.4`), NaN and infinities as
/// `null` (an aggregate with no input). A series result whose aggregates include
/// ``AggregateValue/overflow`` values ends with `"overflow":["name",…]` naming them, so a
/// sum past the range of a double never reads as a window without input; so does a
/// comparison's object for its own aggregates.
package struct OutputEncoder: Sendable {
    /// The last encoded record.
    package private(set) var bytes: [UInt8] = []
    /// The last encoded window key.
    package private(set) var key: [UInt8] = []
    private var superseded = SupersededMembers()

    package init() {
        bytes.reserveCapacity(512)
    }

    /// A series result's Kafka key, `{"app":…,"series":…,"device":…,"start":…}`: what
    /// identifies its window, so a compacted results topic keeps each window's newest revision.
    package mutating func encodeWindowKey(_ layout: SeriesResultLayout, device: UnsafeRawBufferPointer, start: Int64) {
        key.removeAll(keepingCapacity: true)
        key.append(contentsOf: layout.prefix)
        JSONWriter.appendStringBody(device, to: &key)
        key.append(contentsOf: #"","start":"#.utf8)
        JSONWriter.appendInteger(start, to: &key)
        key.append(UInt8(ascii: "}"))
    }

    /// A series result:
    /// `{"app":…,"series":…,"device":…,"start":…,"end":…,"revision":…,"timing":…,"<aggregate>":…,"<comparison>":{"<aggregate>":…}}`,
    /// a comparison being `null` where the device has no such window, timing `"early"`,
    /// `"on_time"` or `"late"`.
    ///
    /// - Parameters:
    ///   - values: aggregate values in config order; NaN for no input.
    ///   - comparisons: per comparison, the records it holds (0: none) then its aggregate
    ///     values, as ``WindowResult/comparisons``.
    package mutating func encodeSeriesResult(
        _ layout: SeriesResultLayout, device: UnsafeRawBufferPointer, start: Int64, end: Int64, revision: Int,
        timing: ResultTiming, values: UnsafeBufferPointer<Double>,
        comparisons: UnsafeBufferPointer<Double> = UnsafeBufferPointer(start: nil, count: 0)
    ) {
        bytes.removeAll(keepingCapacity: true)
        appendSeriesResult(
            layout, device: device, start: start, end: end, revision: revision, timing: timing, values: values,
            comparisons: comparisons)
    }

    /// A trigger event on a record: `value` is the record's members other than the device
    /// and time fields, copied verbatim (`RecordDecoder.otherMembers`); of members sharing a
    /// key, only the last.
    package mutating func encodeRecordTriggerEvent(
        _ layout: TriggerEventLayout, device: UnsafeRawBufferPointer, time: Int64,
        record: UnsafeRawBufferPointer, members: [Range<Int>]
    ) {
        bytes.removeAll(keepingCapacity: true)
        appendEventHead(layout, device: device, time: time)
        bytes.append(UInt8(ascii: "{"))
        superseded.mark(record: record, members: members)
        var first = true
        for (position, member) in members.enumerated() where !superseded.isSuperseded(position) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[member]))
        }
        bytes.append(contentsOf: "}}".utf8)
    }

    /// A trigger event on a series result: `time` is the window start and `value` the full
    /// series result record.
    package mutating func encodeSeriesTriggerEvent(
        _ layout: TriggerEventLayout, series: SeriesResultLayout, device: UnsafeRawBufferPointer,
        start: Int64, end: Int64, revision: Int, timing: ResultTiming, values: UnsafeBufferPointer<Double>,
        comparisons: UnsafeBufferPointer<Double> = UnsafeBufferPointer(start: nil, count: 0)
    ) {
        bytes.removeAll(keepingCapacity: true)
        appendEventHead(layout, device: device, time: start)
        appendSeriesResult(
            series, device: device, start: start, end: end, revision: revision, timing: timing, values: values,
            comparisons: comparisons)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func appendEventHead(_ layout: TriggerEventLayout, device: UnsafeRawBufferPointer, time: Int64) {
        bytes.append(contentsOf: layout.prefix)
        JSONWriter.appendStringBody(device, to: &bytes)
        bytes.append(contentsOf: #"","time":"#.utf8)
        JSONWriter.appendInteger(time, to: &bytes)
        bytes.append(contentsOf: #","value":"#.utf8)
    }

    private mutating func appendSeriesResult(
        _ layout: SeriesResultLayout, device: UnsafeRawBufferPointer, start: Int64, end: Int64, revision: Int,
        timing: ResultTiming, values: UnsafeBufferPointer<Double>, comparisons: UnsafeBufferPointer<Double>
    ) {
        bytes.append(contentsOf: layout.prefix)
        JSONWriter.appendStringBody(device, to: &bytes)
        bytes.append(contentsOf: #"","start":"#.utf8)
        JSONWriter.appendInteger(start, to: &bytes)
        bytes.append(contentsOf: #","end":"#.utf8)
        JSONWriter.appendInteger(end, to: &bytes)
        bytes.append(contentsOf: #","revision":"#.utf8)
        JSONWriter.appendInteger(Int64(revision), to: &bytes)
        switch timing {
        case .early: bytes.append(contentsOf: #","timing":"early""#.utf8)
        case .onTime: bytes.append(contentsOf: #","timing":"on_time""#.utf8)
        case .late: bytes.append(contentsOf: #","timing":"late""#.utf8)
        }
        var overflowed = false
        for (index, key) in layout.aggregateKeys.enumerated() {
            bytes.append(contentsOf: key)
            let value = index < values.count ? values[index] : .nan
            if AggregateValue.isOverflow(value) { overflowed = true }
            JSONWriter.appendNumber(value, to: &bytes)
        }
        let width = layout.aggregateNames.count + 1
        for (index, key) in layout.comparisonKeys.enumerated() {
            bytes.append(contentsOf: key)
            let base = index * width
            guard base + width <= comparisons.count, comparisons[base] > 0 else {
                bytes.append(contentsOf: "null".utf8)
                continue
            }
            let aggregates = UnsafeBufferPointer(rebasing: comparisons[base + 1 ..< base + width])
            var comparisonOverflowed = false
            for (aggregate, name) in layout.aggregateNames.enumerated() {
                bytes.append(UInt8(ascii: aggregate == 0 ? "{" : ","))
                bytes.append(contentsOf: name)
                bytes.append(UInt8(ascii: ":"))
                if AggregateValue.isOverflow(aggregates[aggregate]) { comparisonOverflowed = true }
                JSONWriter.appendNumber(aggregates[aggregate], to: &bytes)
            }
            if comparisonOverflowed { appendOverflow(layout, values: aggregates) }
            bytes.append(UInt8(ascii: "}"))
        }
        if overflowed { appendOverflow(layout, values: values) }
        bytes.append(UInt8(ascii: "}"))
    }

    /// `,"overflow":["name",…]`: the aggregates whose values are ``AggregateValue/overflow``.
    private mutating func appendOverflow(_ layout: SeriesResultLayout, values: UnsafeBufferPointer<Double>) {
        bytes.append(contentsOf: #","overflow":["#.utf8)
        var first = true
        for (index, name) in layout.aggregateNames.enumerated()
        where index < values.count && AggregateValue.isOverflow(values[index]) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(contentsOf: name)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}
