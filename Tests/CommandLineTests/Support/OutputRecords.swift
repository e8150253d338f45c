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
    /// A series result; `json` is the value exactly as produced.
    case result(window: WindowKey, end: Int64, revision: Int, json: String)
    /// A trigger event; `window` is set for `on:` triggers (their value is a series result).
    case trigger(name: String, window: WindowKey?, json: String)

    init(_ json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TestFailure(description: "not a JSON object: \(json)")
        }
        if let trigger = object["trigger"] as? String {
            self = .trigger(name: trigger, window: (object["value"] as? [String: Any]).flatMap(Self.window), json: json)
        } else if let window = Self.window(object), let revision = object["revision"] as? Int,
            let end = (object["end"] as? NSNumber)?.int64Value
        {
            self = .result(window: window, end: end, revision: revision, json: json)
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
    /// Per window, its results (JSON) by revision, in the order they were produced.
    var revisions: [WindowKey: [(revision: Int, json: String)]] = [:]
    /// Per window, its end.
    var ends: [WindowKey: Int64] = [:]
    /// Events of record triggers.
    var recordTriggerEvents: [String] = []
    /// Events of series triggers, per window.
    var seriesTriggerEvents: [WindowKey: [String]] = [:]

    init(_ values: some Sequence<String>) throws {
        for value in values {
            switch try OutputRecord(value) {
            case .result(let window, let end, let revision, let json):
                revisions[window, default: []].append((revision, json))
                ends[window] = end
            case .trigger(_, let window?, let json): seriesTriggerEvents[window, default: []].append(json)
            case .trigger(_, nil, let json): recordTriggerEvents.append(json)
            }
        }
    }

    /// The highest revision of a window.
    func final(_ window: WindowKey) -> (revision: Int, json: String)? {
        revisions[window]?.max { $0.revision < $1.revision }
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
/// window, run's revisions strictly increase (they may skip: revisions are coalesced per
/// batch, and run's batches are not batch's), and every revision both emitted is byte for
/// byte the same; every window `closed` by the end of run's input was emitted, its final
/// revision equal to batch's. Run emits no window still open, except (for `sessions`) one
/// that late data reopened after its close. The events of record triggers are the same
/// multiset, and so are the series trigger events of each window run emitted, for the
/// revisions both emitted.
///
/// - Parameter restarted: run's outputs span restarts that read records again: a revision may
///   be emitted more than once, byte for byte the same each time, and trigger events repeat;
///   they are compared as sets.
func expectRunMatchesBatch(
    run: Outputs, batch: Outputs, closed: Set<WindowKey>, sessions: Bool = false, restarted: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var mismatches: [String] = []
    for (window, emitted) in run.revisions.sorted(by: { $0.key < $1.key }) {
        var results = emitted
        if restarted {
            var seen: [Int: String] = [:]
            results = []
            for (revision, json) in emitted {
                if let first = seen[revision] {
                    if first != json { mismatches.append("\(window): revision \(revision) emitted as \(first) and again as \(json)") }
                    continue
                }
                seen[revision] = json
                results.append((revision, json))
            }
        }
        let revisions = results.map(\.revision)
        if !restarted && zip(revisions, revisions.dropFirst()).contains(where: { $0 >= $1 }) {
            mismatches.append("\(window): run produced revisions \(revisions), expected them to increase")
        }
        let batchResults = batch.revisions[window, default: []]
        let batchByRevision = Dictionary(batchResults.map { ($0.revision, $0.json) }, uniquingKeysWith: { first, _ in first })
        // A session key can come and go within one of batch's batches (a start moved twice).
        if batchResults.isEmpty && !sessions {
            mismatches.append("\(window): emitted by run, never by batch")
        }
        for (revision, json) in results {
            if let expected = batchByRevision[revision], expected != json {
                mismatches.append("\(window): revision \(revision) is \(json) in run but \(expected) in batch")
            }
        }
        let actual = results.map(\.json)
        if closed.contains(window) {
            if run.final(window)?.revision != batch.final(window)?.revision || run.final(window)?.json != batch.final(window)?.json {
                mismatches.append("\(window): run's final revision \(run.final(window)?.json ?? "none") but batch's is \(batch.final(window)?.json ?? "none")")
            }
        } else if !sessions {
            mismatches.append("\(window): emitted by run though still open: \(actual)")
        }
        // A series trigger event carries the result (and so the revision) it fired on.
        let both = Set(actual).intersection(batchResults.map(\.json))
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
