// Reads one YAML app file into an `AppDefinition` through the shared `ConfigNodeParser`
// helpers, so every problem carries its file:line:column. Collects all errors, not the first.
import Streaming
import Yams

struct AppFileParser: ConfigNodeParser {
    let file: String
    var errors: [ConfigError] = []

    init(file: String) {
        self.file = file
    }

    /// The parsed app, and where its name and outputs are (to report problems across files).
    struct Parsed {
        var app: AppDefinition
        var placement: AppPlacement
    }

    mutating func parse(yaml: String) -> Parsed? {
        guard let root = compose(yaml: yaml, whenEmpty: "empty app file; expected 'app:'") else { return nil }
        return parseApp(root)
    }

    // MARK: The app

    private static let appKeys = ["app", "input", "watermark", "series", "triggers", "late"]

    private mutating func parseApp(_ root: Node) -> Parsed? {
        guard let keys = mapping(root, in: "the app file", allowed: Self.appKeys, required: ["app", "input"]) else {
            return nil
        }
        let nameNode = keys["app"]
        let name = nameNode.flatMap { nonEmptyString($0, what: "app") }
        let input = keys["input"].flatMap { parseInput($0) }
        let watermark = keys["watermark"].map { parseWatermark($0) } ?? ParsedWatermark()

        var numericFields: [String] = []
        func numericSlot(_ field: String) -> Int {
            if let slot = numericFields.firstIndex(of: field) { return slot }
            numericFields.append(field)
            return numericFields.count - 1
        }

        var series: [SeriesDefinition] = []
        var seriesNames: [String: Node] = [:]
        /// Each output topic's first node, in file order: where a loop through it is reported.
        var outputNodes: [(topic: String, node: Node)] = []
        if let seriesNode = keys["series"] {
            for item in sequence(seriesNode, what: "series") {
                guard let parsed = parseSeries(item, numericSlot: numericSlot) else { continue }
                if let node = item["output"] { outputNodes.append((parsed.output, node)) }
                if let first = seriesNames[parsed.spec.name] {
                    error(
                        at: item["name"] ?? item,
                        "duplicate series name '\(parsed.spec.name)' (first defined at \(position(first)))")
                    continue
                }
                seriesNames[parsed.spec.name] = item["name"] ?? item
                series.append(parsed)
            }
        }

        var stringFields: [String] = []
        var triggers: [TriggerDefinition] = []
        var triggerNames: [String: Node] = [:]
        if let triggersNode = keys["triggers"] {
            for item in sequence(triggersNode, what: "triggers") {
                guard
                    let parsed = parseTrigger(
                        item, series: series,
                        numericSlot: numericSlot,
                        stringSlot: { field in
                            if let slot = stringFields.firstIndex(of: field) { return slot }
                            stringFields.append(field)
                            return stringFields.count - 1
                        })
                else { continue }
                if let node = item["output"] { outputNodes.append((parsed.output, node)) }
                if let first = triggerNames[parsed.name] {
                    error(
                        at: item["name"] ?? item,
                        "duplicate trigger name '\(parsed.name)' (first defined at \(position(first)))")
                    continue
                }
                triggerNames[parsed.name] = item["name"] ?? item
                triggers.append(parsed)
            }
        }
        if keys["series"] == nil && keys["triggers"] == nil {
            error(at: root, "an app needs at least one series or trigger")
        }

        var lateOutput: String?
        if let lateNode = keys["late"],
            let late = mapping(lateNode, in: "late", allowed: ["output"], required: ["output"])
        {
            lateOutput = late["output"].flatMap { nonEmptyString($0, what: "output") }
            if let lateOutput, let node = late["output"] { outputNodes.append((lateOutput, node)) }
        }

        guard let name, let input, let nameNode, let mark = nameNode.mark else { return nil }
        if lateOutput == nil {
            // The default late topic is made of the app name: a name Kafka refuses is reported there.
            outputNodes.append(("\(name)-late", nameNode))
        }
        checkTopics(input: input, outputs: outputNodes, appName: name)
        guard errors.isEmpty else { return nil }
        let app = AppDefinition(
            name: name, sourceFile: file, input: input.spec, watermark: watermark.spec,
            numericFields: numericFields, stringFields: stringFields, series: series, triggers: triggers,
            lateOutput: lateOutput ?? "\(name)-late", maxFuture: watermark.maxFuture)
        checkEngineAccepts(app, seriesNodes: seriesNames, watermarkNode: keys["watermark"] ?? root)
        guard errors.isEmpty else { return nil }
        var placement = AppPlacement(name: SourcePosition(line: mark.line, column: mark.column))
        for (topic, node) in outputNodes where placement.outputs[topic] == nil {
            placement.outputs[topic] = node.mark.map { SourcePosition(line: $0.line, column: $0.column) } ?? placement.name
        }
        return Parsed(app: app, placement: placement)
    }

    // MARK: Topics

    /// Every topic must be one Kafka accepts, and no output may be the app's own input: each
    /// record written there would be read again, forever (a malformed one included).
    private mutating func checkTopics(input: ParsedInput, outputs: [(topic: String, node: Node)], appName: String) {
        if let problem = KafkaTopicName.problem(input.spec.topic) { error(at: input.topicNode, problem) }
        var reported: Set<String> = [input.spec.topic]
        for (topic, node) in outputs {
            let isDefaultLate = topic == "\(appName)-late" && node.scalar?.string == appName
            if let problem = KafkaTopicName.problem(topic), reported.insert(topic).inserted {
                error(at: node, isDefaultLate ? "the default late topic '\(topic)': \(problem); set late.output" : problem)
            }
            if topic == input.spec.topic {
                let what = isDefaultLate ? "the default late topic '\(topic)'" : "output '\(topic)'"
                error(
                    at: node,
                    "\(what) is this app's input topic: every record written there would be read again, forever (a feedback loop)")
            }
        }
    }

    /// Whatever the engine would refuse to start with is an error here, so an app that loads
    /// always starts. The checks above name each value; this one catches any gap between them.
    private mutating func checkEngineAccepts(_ app: AppDefinition, seriesNodes: [String: Node], watermarkNode: Node) {
        do throws(WindowEngineError) {
            try WindowEngine.validate(
                series: app.series.map(\.spec), watermark: app.watermark, fieldCount: app.numericFields.count)
        } catch {
            switch error {
            case .invalidDuration(let series), .sizeNotMultipleOfSlide(let series), .tooManyWindowsPerReading(let series),
                .tooManyPanesPerDevice(let series), .invalidAggregate(let series, _),
                .comparisonNeedsTumblingWindow(let series, _), .comparisonNotMultipleOfWindow(let series, _),
                .tooManyComparisonWindows(let series, _):
                self.error(at: seriesNodes[series] ?? watermarkNode, "this app cannot start: \(error)")
            }
        }
    }

    // MARK: Input and watermark

    /// An input section and where its topic is.
    private struct ParsedInput {
        var spec: InputSpec
        var topicNode: Node
    }

    private mutating func parseInput(_ node: Node) -> ParsedInput? {
        guard
            let keys = mapping(
                node, in: "input", allowed: ["topic", "format", "device", "time", "time_unit", "start", "key"],
                required: ["topic"])
        else { return nil }
        var format = InputSpec.Format.json
        if let formatNode = keys["format"], let text = string(formatNode, what: "format") {
            if let known = InputSpec.Format(rawValue: text) {
                format = known
            } else {
                error(at: formatNode, "unknown input format '\(text)'; supported: json")
            }
        }
        guard let topicNode = keys["topic"], let topic = nonEmptyString(topicNode, what: "topic") else { return nil }
        let device = keys["device"].flatMap { fieldPath($0, what: "device") }
        let time = keys["time"].flatMap { fieldPath($0, what: "time") }
        var timeUnit: EpochUnit?
        if let unitNode = keys["time_unit"], let text = string(unitNode, what: "time_unit") {
            if let unit = EpochUnit(rawValue: text) {
                timeUnit = unit
            } else {
                error(at: unitNode, "unknown time_unit '\(text)'; expected seconds, milliseconds or microseconds")
            }
            if keys["time"] == nil {
                error(at: unitNode, "time_unit needs a time field: without time: the event time is the message timestamp")
            }
        }
        let start = keys["start"].flatMap { parseStart($0) }
        var key = InputKey.device
        if let keyNode = keys["key"], let text = string(keyNode, what: "key") {
            switch InputKey(rawValue: text) {
            case .device?: break
            case .any?:
                if device == nil {
                    error(at: keyNode, "key: any needs input.device: without it the message key is the device, and records are never repartitioned")
                }
                key = .any
            case nil: error(at: keyNode, "key must be device (the message key is the device id) or any (records are repartitioned by device), found '\(text)'")
            }
        }
        return ParsedInput(
            spec: InputSpec(
                topic: topic, format: format, deviceField: device, timeField: time, timeUnit: timeUnit, start: start, key: key),
            topicNode: topicNode)
    }

    /// The ``FieldPath/spelling`` of a field named by a whole scalar, or nil (reported at its
    /// character).
    private mutating func fieldPath(_ node: Node, what: String) -> String? {
        guard let text = nonEmptyString(node, what: what) else { return nil }
        do {
            return try FieldPath.parse(text).spelling
        } catch {
            self.error(at: node, offset: error.offset, error.message)
            return nil
        }
    }

    /// `earliest`, `latest` or `-DURATION`.
    private mutating func parseStart(_ node: Node) -> InputStart? {
        guard let text = string(node, what: "start") else { return nil }
        switch text {
        case "earliest": return .earliest
        case "latest": return .latest
        default:
            guard text.hasPrefix("-"), case .success(let milliseconds) = DurationSyntax.milliseconds(String(text.dropFirst())) else {
                error(at: node, "start must be earliest, latest or a duration back from now (-8d), found '\(text)'")
                return nil
            }
            return .ago(milliseconds)
        }
    }

    /// The engine's watermark settings, and the app's limit on readings from the future.
    private struct ParsedWatermark {
        var spec = WatermarkSpec()
        var maxFuture: Int64? = AppDefinition.defaultMaxFuture
    }

    private mutating func parseWatermark(_ node: Node) -> ParsedWatermark {
        var parsed = ParsedWatermark()
        guard
            let keys = mapping(
                node, in: "watermark", allowed: ["per", "out_of_order", "idle", "max_future"], required: [])
        else { return parsed }
        if let futureNode = keys["max_future"] {
            if futureNode.scalar?.string == "off" {
                parsed.maxFuture = nil
            } else if let value = appDuration(futureNode) {
                parsed.maxFuture = value
            }
        }
        var spec = WatermarkSpec()
        if let perNode = keys["per"], let per = string(perNode, what: "per") {
            switch per {
            case "device": spec.scope = .device
            case "partition": spec.scope = .partition
            default: error(at: perNode, "unknown watermark scope '\(per)'; expected device or partition")
            }
        }
        if let node = keys["out_of_order"], let value = appDuration(node) { spec.outOfOrder = value }
        if let node = keys["idle"], let value = appDuration(node, positive: true) { spec.idle = value }
        parsed.spec = spec
        return parsed
    }

    /// A duration the engine can hold.
    private mutating func appDuration(_ node: Node, positive: Bool = false) -> Int64? {
        duration(node, positive: positive, maximum: WindowEngine.maxDuration)
    }

    // MARK: Series

    private static let seriesKeys = ["name", "window", "allowed_lateness", "emit", "aggregate", "compare", "output"]
    /// Keys every series result already has; an aggregate may not shadow them.
    private static let reservedResultKeys: Set<String> = [
        "app", "series", "device", "start", "end", "revision", "timing", "overflow",
    ]

    private mutating func parseSeries(_ node: Node, numericSlot: (String) -> Int) -> SeriesDefinition? {
        guard
            let keys = mapping(
                node, in: "a series", allowed: Self.seriesKeys, required: ["name", "window", "aggregate", "output"])
        else { return nil }
        let name = keys["name"].flatMap { nonEmptyString($0, what: "name") }
        let window = keys["window"].flatMap { parseWindow($0) }
        let lateness = keys["allowed_lateness"].map { appDuration($0) } ?? 0
        let emit = keys["emit"].map { parseEmit($0) } ?? .final
        let output = keys["output"].flatMap { nonEmptyString($0, what: "output") }
        var aggregates: [AggregateSpec] = []
        var complete = true
        if let aggregateNode = keys["aggregate"], let pairs = pairs(aggregateNode, what: "aggregate") {
            if pairs.isEmpty { error(at: aggregateNode, "a series needs at least one aggregate") }
            for (keyNode, valueNode) in pairs {
                guard let outName = nonEmptyString(keyNode, what: "aggregate name") else {
                    complete = false
                    continue
                }
                if Self.reservedResultKeys.contains(outName) {
                    error(
                        at: keyNode,
                        "aggregate name '\(outName)' is reserved; results already have app, series, device, start, end, revision, timing and overflow"
                    )
                    complete = false
                    continue
                }
                guard let spec = parseAggregate(valueNode, name: outName, numericSlot: numericSlot) else {
                    complete = false
                    continue
                }
                aggregates.append(spec)
            }
        } else {
            complete = false
        }
        var comparisons: [ComparisonSpec] = []
        if let compareNode = keys["compare"], let window {
            let parsed = parseComparisons(
                compareNode, keyNode: key("compare", of: node) ?? compareNode, window: window, lateness: lateness ?? 0,
                aggregateNames: aggregates.map(\.name))
            if let parsed { comparisons = parsed } else { complete = false }
        }
        guard complete, let name, let window, let lateness, let emit, let output else { return nil }
        if case .hopping(let size, let slide) = window, (size + lateness) / slide > WindowEngine.maxPanesPerDevice {
            error(
                at: keys["allowed_lateness"] ?? keys["window"] ?? node,
                "a device would keep \((size + lateness) / slide) panes of this window open or revisable; at most \(WindowEngine.maxPanesPerDevice) ((size + allowed_lateness) / slide) are allowed, so choose a longer slide or less lateness"
            )
            return nil
        }
        return SeriesDefinition(
            spec: SeriesSpec(
                name: name, window: window, allowedLateness: lateness, emit: emit, aggregates: aggregates,
                comparisons: comparisons),
            output: output)
    }

    /// The key node of `key` in a mapping node, to report at the key rather than its value.
    private func key(_ key: String, of node: Node) -> Node? {
        node.mapping?.first { $0.key.scalar?.string == key }?.key
    }

    /// `compare: {name: {offset: D} | {over: D}, …}` of a series with `window`; nil (reported)
    /// when anything is wrong.
    private mutating func parseComparisons(
        _ node: Node, keyNode: Node, window: WindowSpec, lateness: Int64, aggregateNames: [String]
    ) -> [ComparisonSpec]? {
        let size: Int64
        switch window {
        case .tumbling(let tumbling): size = tumbling
        case .hopping:
            error(at: keyNode, "compare needs a tumbling window ({size: D}); this series' window is hopping")
            return nil
        case .session:
            error(at: keyNode, "compare needs a tumbling window ({size: D}); this series' window is a session")
            return nil
        }
        guard let pairs = pairs(node, what: "compare") else { return nil }
        if pairs.isEmpty { error(at: node, "compare needs at least one comparison, e.g. yesterday: {offset: 1d}") }
        var comparisons: [ComparisonSpec] = []
        var complete = !pairs.isEmpty
        let shapes = "a comparison is {offset: D} (the device's window that started D earlier) or {over: D} (its windows in the D before the window's start, merged)"
        for (nameNode, valueNode) in pairs {
            guard let name = nonEmptyString(nameNode, what: "comparison name") else {
                complete = false
                continue
            }
            if !name.isFieldName || name.contains(".") {
                error(
                    at: nameNode,
                    "comparison name '\(name)' must be a plain name (letters, digits and _, not starting with a digit): triggers read its aggregates as name.aggregate, e.g. yesterday.mean")
                complete = false
            } else if aggregateNames.contains(name) {
                error(at: nameNode, "comparison name '\(name)' is also an aggregate of this series; results hold both as fields")
                complete = false
            } else if Self.reservedResultKeys.contains(name) {
                error(at: nameNode, "comparison name '\(name)' is reserved; results already have app, series, device, start, end, revision, timing and overflow")
                complete = false
            }
            guard let keys = mapping(valueNode, in: "comparison '\(name)'", allowed: ["offset", "over"], required: []) else {
                complete = false
                continue
            }
            let reachNode: Node
            let merges: Bool
            switch (keys["offset"], keys["over"]) {
            case (let offset?, nil):
                reachNode = offset
                merges = false
            case (nil, let over?):
                reachNode = over
                merges = true
            default:
                error(at: valueNode, shapes)
                complete = false
                continue
            }
            guard let reach = appDuration(reachNode, positive: true) else {
                complete = false
                continue
            }
            let what = merges ? "span" : "offset"
            guard reach % size == 0 else {
                error(
                    at: reachNode,
                    "\(what) \(scalarText(reachNode)) is not a multiple of the window size \(DurationSyntax.text(milliseconds: size)), so it names no window of this series")
                complete = false
                continue
            }
            guard (reach + lateness) / size <= WindowEngine.maxComparisonWindows else {
                error(
                    at: reachNode,
                    "a device would keep \((reach + lateness) / size) windows of history for this comparison; at most \(WindowEngine.maxComparisonWindows) ((\(what) + allowed_lateness) / window size) are allowed, since each device keeps that many windows' aggregates")
                complete = false
                continue
            }
            comparisons.append(ComparisonSpec(name: name, reach: merges ? .over(reach) : .offset(reach)))
        }
        return complete ? comparisons : nil
    }

    private mutating func parseWindow(_ node: Node) -> WindowSpec? {
        guard let keys = mapping(node, in: "window", allowed: ["size", "slide", "gap"], required: []) else {
            return nil
        }
        let shapes = "a window is {size: D} (tumbling), {size: D, slide: D} (hopping) or {gap: D} (session)"
        switch (keys["size"], keys["slide"], keys["gap"]) {
        case (let sizeNode?, nil, nil):
            return appDuration(sizeNode, positive: true).map { .tumbling(size: $0) }
        case (let sizeNode?, let slideNode?, nil):
            guard let size = appDuration(sizeNode, positive: true), let slide = appDuration(slideNode, positive: true)
            else { return nil }
            guard slide <= size, size % slide == 0 else {
                error(
                    at: slideNode,
                    "window slide \(scalarText(slideNode)) must divide window size \(scalarText(sizeNode))")
                return nil
            }
            guard size / slide <= WindowEngine.maxWindowsPerReading else {
                error(
                    at: slideNode,
                    "window {size: \(scalarText(sizeNode)), slide: \(scalarText(slideNode))} puts each reading in \(size / slide) windows; at most \(WindowEngine.maxWindowsPerReading) (size / slide) are allowed, so choose a longer slide"
                )
                return nil
            }
            return .hopping(size: size, slide: slide)
        case (nil, nil, let gapNode?):
            return appDuration(gapNode, positive: true).map { .session(gap: $0) }
        default:
            error(at: node, shapes)
            return nil
        }
    }

    private mutating func parseEmit(_ node: Node) -> EmitPolicy? {
        if let text = node.scalar?.string {
            switch text {
            case "final": return .final
            case "updates": return .updates
            default:
                error(at: node, "unknown emit policy '\(text)'; expected final, updates or {every: D}")
                return nil
            }
        }
        guard let keys = mapping(node, in: "emit", allowed: ["every"], required: ["every"]),
            let period = keys["every"].flatMap({ appDuration($0, positive: true) })
        else { return nil }
        return .every(period)
    }

    private mutating func parseAggregate(
        _ node: Node, name: String, numericSlot: (String) -> Int
    ) -> AggregateSpec? {
        guard let text = string(node, what: "aggregate") else { return nil }
        let call = text.trimmingWhitespace()
        guard let open = call.firstIndex(of: "("), call.hasSuffix(")") else {
            error(at: node, "expected an aggregate call like mean(temperature) or count(), found '\(text)'")
            return nil
        }
        let functionName = String(call[..<open]).trimmingWhitespace()
        let argument = String(call[call.index(after: open)..<call.index(before: call.endIndex)]).trimmingWhitespace()
        let function: AggregateFunction
        switch functionName {
        case "count": function = .count
        case "sum": function = .sum
        case "mean": function = .mean
        case "min": function = .min
        case "max": function = .max
        case "stddev": function = .stddev
        case "first": function = .first
        case "last": function = .last
        default:
            if functionName.hasPrefix("p"), let rank = Int(functionName.dropFirst()),
                functionName.dropFirst().allSatisfy(\.isASCII), (1...99).contains(rank),
                !functionName.dropFirst().hasPrefix("0")
            {
                function = .percentile(rank)
            } else {
                error(
                    at: node,
                    "unknown aggregate function '\(functionName)'; expected count, sum, mean, min, max, stddev, first, last or p1…p99"
                )
                return nil
            }
        }
        if function == .count {
            guard argument.isEmpty else {
                error(at: node, "count() takes no field; it counts records")
                return nil
            }
            return AggregateSpec(name: name, function: .count, field: nil)
        }
        guard !argument.isEmpty else {
            error(at: node, "\(functionName)() needs a field, e.g. \(functionName)(temperature)")
            return nil
        }
        let field: FieldPath
        do {
            field = try FieldPath.parse(argument)
        } catch {
            // Point at the character: the argument starts after `(` and any spaces.
            let open = text.unicodeScalars.firstIndex(of: "(")!
            let leading = text.unicodeScalars[text.unicodeScalars.index(after: open)...].prefix { $0.properties.isWhitespace }
            let offset = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: open) + 1 + leading.count
            self.error(at: node, offset: offset + error.offset, error.message)
            return nil
        }
        return AggregateSpec(name: name, function: function, field: numericSlot(field.spelling))
    }

    // MARK: Triggers

    private mutating func parseTrigger(
        _ node: Node, series: [SeriesDefinition],
        numericSlot: (String) -> Int, stringSlot: (String) -> Int
    ) -> TriggerDefinition? {
        guard
            let keys = mapping(
                node, in: "a trigger", allowed: ["name", "on", "when", "output"], required: ["name", "when", "output"])
        else { return nil }
        let name = keys["name"].flatMap { nonEmptyString($0, what: "name") }
        let output = keys["output"].flatMap { nonEmptyString($0, what: "output") }
        var seriesIndex: Int?
        if let onNode = keys["on"] {
            guard let target = nonEmptyString(onNode, what: "on") else { return nil }
            guard let index = series.firstIndex(where: { $0.spec.name == target }) else {
                let known = series.map(\.spec.name).joined(separator: ", ")
                error(at: onNode, "unknown series '\(target)'; this app's series: \(known.isEmpty ? "none" : known)")
                return nil
            }
            seriesIndex = index
        }
        guard let whenNode = keys["when"], let source = string(whenNode, what: "when") else { return nil }
        let syntax: ExpressionSyntax
        do {
            syntax = try ExpressionSyntax.parse(source)
        } catch {
            self.error(at: whenNode, offset: error.offset, error.message)
            return nil
        }
        let condition: TriggerCondition
        do throws(ExpressionError) {
            if let seriesIndex {
                let fields = Self.resultFieldSpellings(series[seriesIndex])
                let strings = SeriesDefinition.stringResultFields
                for use in syntax.fieldUses where !(use.kind == .string ? strings : fields).contains(use.name) {
                    throw ExpressionError(offset: use.offset, message: Self.unknownResultField(use, of: series[seriesIndex]))
                }
                condition = try TriggerCondition(
                    source: source, syntax: syntax, numberSlot: { fields.firstIndex(of: $0) },
                    stringSlot: { strings.firstIndex(of: $0) })
            } else {
                condition = try TriggerCondition(
                    source: source, syntax: syntax, numberSlot: numericSlot, stringSlot: stringSlot)
            }
        } catch {
            self.error(at: whenNode, offset: error.offset, error.message)
            return nil
        }
        guard let name, let output else { return nil }
        return TriggerDefinition(
            name: name, source: seriesIndex.map { .series(index: $0) } ?? .records, condition: condition,
            output: output)
    }

    /// A series' ``SeriesDefinition/resultFields`` as expressions spell them: an aggregate
    /// named like no identifier in backquotes, a comparison's as `` yesterday.`avg temp` ``.
    private static func resultFieldSpellings(_ series: SeriesDefinition) -> [String] {
        let aggregates = series.spec.aggregates.map(\.name)
        return (aggregates + SeriesDefinition.windowFields).map { FieldPath([$0]).spelling }
            + series.spec.comparisons.flatMap { comparison in
                aggregates.map { FieldPath([comparison.name, $0]).spelling }
            }
    }

    /// Why a series trigger cannot read `use`: an unknown comparison or aggregate of one for a
    /// dotted name of a series that compares, else an unknown field.
    private static func unknownResultField(_ use: FieldUse, of series: SeriesDefinition) -> String {
        let spec = series.spec
        let comparisons = spec.comparisons.map(\.name)
        let aggregates = spec.aggregates.map(\.name)
        if use.kind == .number, !comparisons.isEmpty, let path = try? FieldPath.parse(use.name), path.segments.count > 1 {
            let comparison = path.segments[0], aggregate = FieldPath(Array(path.segments.dropFirst())).spelling
            guard comparisons.contains(comparison) else {
                return "series '\(spec.name)' has no comparison '\(comparison)'; its comparisons: \(comparisons.joined(separator: ", "))"
            }
            return "comparison '\(comparison)' of series '\(spec.name)' has no aggregate '\(aggregate)'; its aggregates: \(aggregates.joined(separator: ", "))"
        }
        if use.kind == .string {
            return "series '\(spec.name)' has no string field '\(use.name)'; its string fields: timing (\"early\", \"on_time\" or \"late\")"
        }
        var fields = aggregates + SeriesDefinition.windowFields
        fields += comparisons.map { "\($0).<aggregate>" }
        if use.name == "timing" {
            return "series '\(spec.name)': timing is a string, compared with one: timing == \"on_time\" (or \"early\", \"late\")"
        }
        return "series '\(spec.name)' has no field '\(use.name)'; its fields: \(fields.joined(separator: ", "))"
    }

    // MARK: Reporting

    /// Reports an expression error at its character inside the scalar when the scalar's
    /// source text maps one-to-one onto the string (one line, no escapes), else at its start.
    private mutating func error(at node: Node, offset: Int, _ message: String) {
        guard let scalar = node.scalar, let mark = node.mark else {
            error(at: node, message)
            return
        }
        let text = scalar.string
        var shift: Int?
        if !text.contains("\n") {
            switch scalar.style {
            case .plain, .any: shift = offset
            case .singleQuoted where !text.contains("'"): shift = offset + 1
            case .doubleQuoted where !text.contains("\\") && !text.contains("\""): shift = offset + 1
            default: shift = nil
            }
        }
        errors.append(
            ConfigError(file: file, line: mark.line, column: mark.column + (shift ?? 0), message: message))
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }

    /// An identifier, optionally dotted: `temperature`, `sensor.temperature`.
    var isFieldName: Bool {
        let segments = split(separator: ".", omittingEmptySubsequences: false)
        return !isEmpty
            && segments.allSatisfy { segment in
                guard let first = segment.unicodeScalars.first,
                    first == "_" || first.properties.isAlphabetic
                else { return false }
                return segment.unicodeScalars.allSatisfy {
                    $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
                }
            }
    }
}
