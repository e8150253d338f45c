// Output records as the tests compare them: series results grouped by window, trigger
// events, and the check of the central promise (run's final revisions equal batch's).
import Foundation
import Testing

/// (app, series, device, start): what identifies a window.
struct WindowKey: Hashable, Comparable, CustomStringConvertible {
    var app: String
    var series: String
    var device: String
    var start: Int64

    static func < (a: WindowKey, b: WindowKey) -> Bool {
        (a.app, a.series, a.device, a.start) < (b.app, b.series, b.device, b.start)
    }

    var description: String { "\(app)/\(series)/\(device)/\(start)" }
}

/// One output value, parsed just enough to group it.
enum OutputRecord {
    /// A series result; `timing` is `early`, `on_time` or `late`; `json` is the value exactly
    /// as produced.
    case result(window: WindowKey, end: Int64, revision: Int, timing: String, json: String)
    /// A trigger event; `window` is set for `on:` triggers (their value is a series result).
    case trigger(name: String, window: WindowKey?, json: String)

    init(_ json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TestFailure(description: "not a JSON object: \(json)")
        }
        if let trigger = object["trigger"] as? String {
            self = .trigger(name: trigger, window: (object["value"] as? [String: Any]).flatMap(Self.window), json: json)
        } else if let window = Self.window(object), let revision = object["revision"] as? Int,
            let timing = object["timing"] as? String, ["early", "on_time", "late"].contains(timing),
            let end = (object["end"] as? NSNumber)?.int64Value
        {
            self = .result(window: window, end: end, revision: revision, timing: timing, json: json)
        } else {
            throw TestFailure(description: "neither a series result nor a trigger event: \(json)")
        }
    }

    private static func window(_ object: [String: Any]) -> WindowKey? {
        guard let app = object["app"] as? String, let series = object["series"] as? String,
            let device = object["device"] as? String, let start = (object["start"] as? NSNumber)?.int64Value
        else { return nil }
        return WindowKey(app: app, series: series, device: device, start: start)
    }
}

/// A set of output values, split the way the comparisons need them.
struct Outputs {
    /// Per window, its results (JSON) with their revisions and timings, in the order they were
    /// produced.
    var revisions: [WindowKey: [(revision: Int, timing: String, json: String)]] = [:]
    /// Per window, its end.
    var ends: [WindowKey: Int64] = [:]
    /// Events of record triggers.
    var recordTriggerEvents: [String] = []
    /// Events of series triggers, per window.
    var seriesTriggerEvents: [WindowKey: [String]] = [:]

    init(_ values: some Sequence<String>) throws {
        for value in values {
            switch try OutputRecord(value) {
            case .result(let window, let end, let revision, let timing, let json):
                revisions[window, default: []].append((revision, timing, json))
                ends[window] = end
            case .trigger(_, let window?, let json): seriesTriggerEvents[window, default: []].append(json)
            case .trigger(_, nil, let json): recordTriggerEvents.append(json)
            }
        }
    }

    /// The newest result of a window: its highest revision, and at equal revisions one that is
    /// not early over an early one (as a consumer keeping the newest result picks it).
    func final(_ window: WindowKey) -> (revision: Int, timing: String, json: String)? {
        revisions[window]?.max { ($0.revision, $0.timing != "early" ? 1 : 0) < ($1.revision, $1.timing != "early" ? 1 : 0) }
    }

    /// The results of a window that are not early, which a revision and timing identify.
    func settled(_ window: WindowKey) -> [(revision: Int, timing: String, json: String)] {
        revisions[window, default: []].filter { $0.timing != "early" }
    }

    var resultCount: Int { revisions.values.reduce(0) { $0 + $1.count } }
}

/// The elements of `a` not matched one for one in `b`.
func multisetDifference(_ a: [String], _ b: [String]) -> [String] {
    var remaining: [String: Int] = [:]
    for element in b { remaining[element, default: 0] += 1 }
    var missing: [String] = []
    for element in a {
        if let count = remaining[element], count > 0 { remaining[element] = count - 1 } else { missing.append(element) }
    }
    return missing
}

/// The central promise, window by window. Every window `run` emitted exists in `batch`; per
/// window, run's results that are not early (early ones are provisional) strictly increase
/// in revision (they may skip: revisions are coalesced per batch, and run's batches are not
/// batch's), at most one is on time and it comes first, no early result follows them, and
/// every (revision, timing) both emitted is byte for byte the same; every window `closed` by
/// the end of run's input was emitted, its final revision equal to batch's. Run emits no
/// window still open but early, except (for `sessions`) one that late data reopened after
/// its close. The events of record triggers are the same multiset, and so are the series
/// trigger events of each window run emitted, for the results both emitted.
///
/// - Parameter restarted: run's outputs span restarts that read records again: a revision may
///   be emitted more than once, byte for byte the same each time, and trigger events repeat;
///   they are compared as sets.
func expectRunMatchesBatch(
    run: Outputs, batch: Outputs, closed: Set<WindowKey>, sessions: Bool = false, restarted: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var mismatches: [String] = []
    struct Settled: Hashable {
        var revision: Int
        var timing: String
    }
    for (window, emitted) in run.revisions.sorted(by: { $0.key < $1.key }) {
        if let firstSettled = emitted.firstIndex(where: { $0.timing != "early" }),
            let early = emitted[firstSettled...].first(where: { $0.timing == "early" })
        {
            mismatches.append("\(window): an early result after the window closed: \(early.json)")
        }
        var results = run.settled(window)
        if restarted {
            var seen: [Settled: String] = [:]
            results = []
            for result in run.settled(window) {
                let key = Settled(revision: result.revision, timing: result.timing)
                if let first = seen[key] {
                    if first != result.json {
                        mismatches.append("\(window): revision \(result.revision) \(result.timing) emitted as \(first) and again as \(result.json)")
                    }
                    continue
                }
                seen[key] = result.json
                results.append(result)
            }
        }
        let revisions = results.map(\.revision)
        if !restarted && zip(revisions, revisions.dropFirst()).contains(where: { $0 >= $1 }) {
            mismatches.append("\(window): run produced revisions \(revisions), expected them to increase")
        }
        if results.dropFirst().contains(where: { $0.timing == "on_time" }) {
            mismatches.append("\(window): run produced timings \(results.map(\.timing)), an on_time result after another")
        }
        let batchResults = batch.revisions[window, default: []]
        let batchSettled = Dictionary(
            batch.settled(window).map { (Settled(revision: $0.revision, timing: $0.timing), $0.json) }, uniquingKeysWith: { first, _ in first })
        // A session key can come and go within one of batch's batches (a start moved twice).
        if batchResults.isEmpty && !sessions {
            mismatches.append("\(window): emitted by run, never by batch")
        }
        for result in results {
            if let expected = batchSettled[Settled(revision: result.revision, timing: result.timing)], expected != result.json {
                mismatches.append("\(window): revision \(result.revision) \(result.timing) is \(result.json) in run but \(expected) in batch")
            }
        }
        if closed.contains(window) {
            if run.final(window)?.revision != batch.final(window)?.revision || run.final(window)?.json != batch.final(window)?.json {
                mismatches.append("\(window): run's final revision \(run.final(window)?.json ?? "none") but batch's is \(batch.final(window)?.json ?? "none")")
            }
        } else if !sessions && !results.isEmpty {
            mismatches.append("\(window): emitted by run though still open: \(results.map(\.json))")
        }
        // A series trigger event carries the result (and so the revision) it fired on; early
        // results are provisional, and so are the events on them.
        let both = Set(results.map(\.json)).intersection(batchSettled.values)
        func firedOnBoth(_ events: [String]) -> [String] {
            events.filter { event in both.contains { event.hasSuffix(",\"value\":" + $0 + "}") } }.sorted()
        }
        var runEvents = firedOnBoth(run.seriesTriggerEvents[window, default: []])
        var batchEvents = firedOnBoth(batch.seriesTriggerEvents[window, default: []])
        if restarted {
            runEvents = Array(Set(runEvents)).sorted()
            batchEvents = Array(Set(batchEvents)).sorted()
        }
        if runEvents != batchEvents {
            mismatches.append("\(window): run's series trigger events \(runEvents), batch's \(batchEvents)")
        }
    }
    for window in closed.subtracting(run.revisions.keys).sorted() {
        mismatches.append("\(window): closed by the end of run's input but never emitted; batch: \(batch.final(window)?.json ?? "")")
    }
    for (window, events) in run.seriesTriggerEvents where run.revisions[window] == nil {
        mismatches.append("\(window): series trigger events without a result: \(events)")
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) windows differ, e.g. \(mismatches.prefix(5))", sourceLocation: sourceLocation)
    #expect(sessions || !closed.isEmpty, "no window closed of \(batch.revisions.count) in batch, e.g. \(batch.revisions.keys.first.map(String.init(describing:)) ?? "none")", sourceLocation: sourceLocation)
    let runRecordEvents = restarted ? Array(Set(run.recordTriggerEvents)) : run.recordTriggerEvents
    let batchRecordEvents = restarted ? Array(Set(batch.recordTriggerEvents)) : batch.recordTriggerEvents
    let onlyInRun = multisetDifference(runRecordEvents, batchRecordEvents)
    let onlyInBatch = multisetDifference(batchRecordEvents, runRecordEvents)
    #expect(onlyInRun.isEmpty && onlyInBatch.isEmpty,
        "record trigger events only in run: \(onlyInRun.prefix(3)), only in batch: \(onlyInBatch.prefix(3))",
        sourceLocation: sourceLocation)
}

/// A line of `tidemark batch --late`.
struct BatchLateLine: Decodable, Equatable {
    var line: Int
    var reason: String
    var error: String?
    var value: String

    init(_ json: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(json.utf8))
    }

    init(line: Int, reason: String, error: String? = nil, value: String) {
        self.line = line
        self.reason = reason
        self.error = error
        self.value = value
    }
}
