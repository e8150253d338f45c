// Trigger expressions: parsing, precedence, null semantics and errors with offsets.
import Foundation
import Streaming
import Synchronization
import Testing

private let fields = ["temperature", "humidity", "battery", "sensor.level"]

private func condition(_ source: String) throws -> TriggerCondition {
    try TriggerCondition(
        source, numberSlot: { fields.firstIndex(of: $0) },
        stringSlot: { $0 == "status" ? 0 : $0 == "fw" ? 1 : nil })
}

private func matches(_ source: String, _ values: [Double], strings: [String?] = []) throws -> Bool {
    let compiled = try condition(source)
    var storage = strings.map { $0.map { Array($0.utf8) } }
    return values.withUnsafeBufferPointer { numbers in
        withStringBuffers(&storage) { compiled.evaluate(numbers: numbers, strings: $0) }
    }
}

private func withStringBuffers<R>(
    _ storage: inout [[UInt8]?], _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer?>) -> R
) -> R {
    // Test-only: the arrays outlive the call, so their base addresses stay valid.
    var pointers: [UnsafeRawBufferPointer?] = []
    var keep: [UnsafeMutableRawBufferPointer] = []
    for value in storage {
        if let value {
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(value.count, 1), alignment: 1)
            copy.copyBytes(from: value)
            keep.append(copy)
            pointers.append(UnsafeRawBufferPointer(rebasing: copy[0..<value.count]))
        } else {
            pointers.append(nil)
        }
    }
    defer { keep.forEach { $0.deallocate() } }
    return pointers.withUnsafeBufferPointer(body)
}

private func parseError(_ source: String) -> ExpressionError? {
    do {
        _ = try condition(source)
        return nil
    } catch {
        return error as? ExpressionError
    }
}

@Suite struct ExpressionEvaluationTests {
    @Test func designExampleMatchesHotAndColdReadings() throws {
        let when = "temperature > 30 or temperature < 5"
        #expect(try matches(when, [31.2, 40]))
        #expect(try matches(when, [4.9, 40]))
        #expect(try !matches(when, [21.4, 40]))
        #expect(try !matches(when, [30, 40]))
    }

    @Test func arithmeticPrecedence() throws {
        #expect(try matches("1 + 2 * 3 == 7", []))
        #expect(try matches("(1 + 2) * 3 == 9", []))
        #expect(try matches("10 - 4 - 3 == 3", []))
        #expect(try matches("12 / 3 / 2 == 2", []))
        #expect(try matches("7 % 4 == 3", []))
        #expect(try matches("-2 * -3 == 6", []))
        #expect(try matches("- temperature + 1 == -29", [30]))
        #expect(try matches("temperature * 9 / 5 + 32 >= 86", [30]))
        #expect(try matches("1.5e1 == 15", []))
    }

    @Test func booleanPrecedenceAndBindsTighterThanOr() throws {
        // true or (false and false)
        #expect(try matches("true or false and false", []))
        #expect(try !matches("(true or false) and false", []))
        #expect(try matches("not false and true", []))
        #expect(try !matches("not (false or true)", []))
        #expect(try matches("!(temperature > 30) && humidity >= 40 || false", [20, 40]))
        #expect(try matches("true == (1 < 2)", []))
    }

    @Test func dottedFieldNamesResolveToTheirSlot() throws {
        #expect(try matches("sensor.level > 0.5", [.nan, .nan, .nan, 0.75]))
    }

    @Test func comparisonsWithNullAreFalse() throws {
        let missing = Double.nan
        #expect(try !matches("temperature > 30", [missing]))
        #expect(try !matches("temperature <= 30", [missing]))
        #expect(try !matches("temperature == 30", [missing]))
        #expect(try !matches("temperature != 30", [missing]))
        #expect(try !matches("temperature + 1 > 0", [missing]))
        #expect(try !matches("temperature == null", [21]))
        #expect(try matches("temperature == null", [missing]))
        #expect(try matches("null == temperature", [missing]))
        #expect(try matches("temperature != null", [21]))
        // `not` negates the false comparison, so a missing field matches.
        #expect(try matches("not (temperature > 30)", [missing]))
        #expect(try matches("temperature > 30 or humidity > 50", [missing, 60]))
        // Division by zero is null.
        #expect(try !matches("temperature / 0 > 0", [1]))
        #expect(try matches("temperature / 0 == null", [1]))
    }

    @Test func stringFieldsCompareWithLiterals() throws {
        #expect(try matches(#"status == "fault""#, [], strings: ["fault"]))
        #expect(try !matches(#"status == "fault""#, [], strings: ["ok"]))
        #expect(try matches(#""fault" != status"#, [], strings: ["ok"]))
        // A missing string compares false both ways.
        #expect(try !matches(#"status == "fault""#, [], strings: [nil]))
        #expect(try !matches(#"status != "fault""#, [], strings: [nil]))
        #expect(try matches(#"status == "fault" and fw != "1.0""#, [], strings: ["fault", "1.2"]))
    }

    @Test func fieldUsesReportKindsAndOffsets() throws {
        let syntax = try ExpressionSyntax.parse(#"temperature > 30 and status == "x""#)
        #expect(
            syntax.fieldUses == [
                FieldUse(name: "temperature", kind: .number, offset: 0),
                FieldUse(name: "status", kind: .string, offset: 21),
            ])
    }

    @Test func syntaxTreeOfMixedPrecedence() throws {
        let syntax = try ExpressionSyntax.parse("a or b and not c > 1")
        #expect(
            syntax
                == .binary(
                    .or, .field("a", offset: 0),
                    .binary(
                        .and, .field("b", offset: 5),
                        .unary(
                            .not, .binary(.greater, .field("c", offset: 15), .number(1, offset: 19), offset: 15),
                            offset: 11),
                        offset: 5),
                    offset: 0))
    }
}

@Suite struct ExpressionErrorTests {
    @Test func missingOperandAfterOr() {
        #expect(
            parseError("temperature > 30 or")
                == ExpressionError(offset: 19, message: "expected an operand after 'or'"))
        #expect(
            parseError("temperature > 30 or )")
                == ExpressionError(offset: 20, message: "expected an operand after 'or', found ')'"))
    }

    @Test func missingOperandAfterComparison() {
        #expect(
            parseError("temperature > and humidity")
                == ExpressionError(offset: 14, message: "expected an operand after '>', found 'and'"))
    }

    @Test func unclosedParenthesis() {
        #expect(
            parseError("(temperature > 30")
                == ExpressionError(offset: 17, message: "expected ')' to close the '(' at offset 0"))
        #expect(parseError("temperature > 30)") == ExpressionError(offset: 16, message: "unmatched ')'"))
    }

    @Test func lexicalErrors() {
        #expect(parseError("temperature = 30") == ExpressionError(offset: 12, message: "use '==' to compare for equality"))
        #expect(parseError("temperature > 3O") == ExpressionError(offset: 15, message: "unexpected character 'O' after a number"))
        #expect(parseError("temperature > #") == ExpressionError(offset: 14, message: "unexpected character '#'"))
        #expect(parseError(#"status == "ok"#) == ExpressionError(offset: 10, message: "unterminated string"))
        #expect(parseError("") == ExpressionError(offset: 0, message: "expected an expression"))
        #expect(
            parseError("a b")
                == ExpressionError(
                    offset: 2, message: "expected an operator or the end of the expression, found 'b'"))
    }

    @Test func typeErrors() {
        #expect(parseError("temperature") == ExpressionError(offset: 0, message: "a condition must be true or false; this expression is a number"))
        #expect(parseError("temperature + (humidity > 3) > 1") == ExpressionError(offset: 15, message: "'+' needs a number here, not a boolean"))
        #expect(parseError("temperature and true") == ExpressionError(offset: 0, message: "'and' needs a boolean here, not a number"))
        #expect(parseError("1 < 2 < 3") == ExpressionError(offset: 6, message: "comparisons do not chain; combine them with 'and', e.g. a < b and b < c"))
        #expect(parseError("pressure > 3") == ExpressionError(offset: 0, message: "unknown field 'pressure'"))
        #expect(parseError(#"pressure == "x""#) == ExpressionError(offset: 0, message: "unknown field 'pressure'"))
    }
}

/// Expressions a hostile or generated app file may hold: refused past the bounds with the
/// offset of the first operator beyond them, and harmless to the stack up to them.
@Suite struct ExpressionBoundsTests {
    @Test func nestingPastTheBoundIsRefusedAtTheParenthesisBeyondIt() {
        let depth = ExpressionSyntax.maxNesting
        let atBound = String(repeating: "(", count: depth) + "temperature > 1" + String(repeating: ")", count: depth)
        #expect(parseError(atBound) == nil)
        #expect(
            parseError("(" + atBound + ")")
                == ExpressionError(
                    offset: depth,
                    message: "expression nested too deeply: at most 32 levels of parentheses, 'not' and '-'"))
        let deep = String(repeating: "(", count: 10_000) + "temperature > 1" + String(repeating: ")", count: 10_000)
        #expect(parseError(deep)?.offset == depth)
        #expect(parseError(String(repeating: "not ", count: 100_000) + "true")?.offset == 4 * depth)
        #expect(parseError("temperature > " + String(repeating: "- ", count: 100_000) + "1")?.offset == 14 + 2 * depth)
    }

    @Test func operatorsPastTheBoundAreRefusedAtTheFirstOneBeyond() {
        func chain(_ terms: Int) -> String {
            Array(repeating: "temperature", count: terms).joined(separator: " + ") + " > 1"
        }
        // terms - 1 additions and one comparison.
        #expect(parseError(chain(ExpressionSyntax.maxOperators)) == nil)
        let tooLong = ExpressionError(
            offset: 12 + 14 * ExpressionSyntax.maxOperators,
            message: "expression too long: at most 256 operators; split it into several triggers")
        #expect(parseError(chain(ExpressionSyntax.maxOperators + 1)) == tooLong)
        #expect(parseError(chain(100_000)) == tooLong)
    }

    /// Parsing, compiling, evaluating, comparing and freeing the largest expressions allowed
    /// fit in 512 KiB of stack, the smallest default of any thread (Darwin's secondary
    /// threads), even with a debug build's frames.
    @Test func theLargestExpressionsAllowedFitInASmallStack() throws {
        let depth = ExpressionSyntax.maxNesting
        let terms = ExpressionSyntax.maxOperators
        let sources = [
            String(repeating: "(", count: depth) + "temperature > 1" + String(repeating: ")", count: depth),
            String(repeating: "not ", count: depth) + "true",
            String(repeating: "- ", count: depth - 1) + "temperature > " + String(repeating: "1 + ", count: terms - depth) + "1",
            Array(repeating: "temperature", count: terms).joined(separator: " + ") + " > 1",
            Array(repeating: "(temperature > 1)", count: terms / 2).joined(separator: " or "),
            String(repeating: "(", count: depth - 1) + Array(repeating: "humidity", count: terms - depth).joined(separator: " * ")
                + String(repeating: ")", count: depth - 1) + " < 0",
        ]
        let outcomes = Mutex<[String]>([])
        let thread = Thread {
            for source in sources {
                // Two trees, compared node by node, walked for their fields, then freed.
                let syntax = try? ExpressionSyntax.parse(source)
                let equal = syntax != nil && syntax == (try? ExpressionSyntax.parse(source))
                let fields = Set(syntax?.fieldUses.map(\.name) ?? [])
                let matched = (try? condition(source))?.evaluate(numbers: [2, 3])
                outcomes.withLock { $0.append("\(equal) \(fields.sorted()) \(matched.map(String.init) ?? "error")") }
            }
        }
        thread.stackSize = 512 << 10
        thread.start()
        try waitForThread { outcomes.withLock { $0.count } == sources.count }
        #expect(
            outcomes.withLock { $0 } == [
                #"true ["temperature"] true"#, "true [] true", #"true ["temperature"] false"#,
                #"true ["temperature"] true"#, #"true ["temperature"] true"#, #"true ["humidity"] false"#,
            ])
    }

    private func waitForThread(_ done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while !done() {
            guard Date() < deadline else { throw CancellationError() }
            usleep(10_000)
        }
    }
}

/// Field paths in expressions, names only backquotes reach, and booleans as 1 and 0.
@Suite struct ExpressionFieldPathTests {
    /// Slots by spelling, as the app loader hands them out.
    private static let slots = ["meta.temp", "`meta.temp`", "meta.`a b`", "`and`", "`true`", "ok", "`x``y`"]

    private func compile(_ source: String) throws -> TriggerCondition {
        try TriggerCondition(source, numberSlot: { Self.slots.firstIndex(of: $0) })
    }

    private func uses(_ source: String) throws -> [String] {
        try ExpressionSyntax.parse(source).fieldUses.map(\.name)
    }

    private func error(_ source: String) -> ExpressionError? {
        do {
            _ = try ExpressionSyntax.parse(source)
            return nil
        } catch {
            return error
        }
    }

    @Test func pathsAndBackquotedKeysResolveToTheirSpelling() throws {
        #expect(try uses("meta.temp > 1") == ["meta.temp"])
        #expect(try uses("`meta`.`temp` > 1") == ["meta.temp"])
        #expect(try uses("`meta.temp` > 1") == ["`meta.temp`"])
        #expect(try uses("meta.`a b` > 1") == ["meta.`a b`"])
        #expect(try uses("`x``y` > 1") == ["`x``y`"])
        #expect(try uses("a.b.c.d > 1") == ["a.b.c.d"])
        // A keyword inside a path needs no quotes; alone, it does.
        #expect(try uses("meta.and > 1 and `and` > 2") == ["meta.and", "`and`"])
        #expect(try uses("`ok` == true") == ["ok"])
        let condition = try compile("meta.temp > 30 and `meta.temp` < 5 and meta.`a b` == 1 and `and` == 2 and `true` == 3")
        #expect(condition.evaluate(numbers: [31, 4, 1, 2, 3, .nan, .nan]))
        #expect(!condition.evaluate(numbers: [31, 4, 1, 2, 4, .nan, .nan]))
    }

    @Test func keywordsStayKeywordsAndBadBackquotesAreRefusedAtTheirOffset() {
        #expect(error("and > 3") == ExpressionError(offset: 0, message: "expected an operand, found 'and'"))
        #expect(error("`and > 3") == ExpressionError(offset: 0, message: "unterminated backquote in a field name"))
        #expect(error("x > `` ") == ExpressionError(offset: 4, message: "empty key `` in a field name"))
        // A dot continues a path only when a segment follows it.
        #expect(error("meta. > 3") == ExpressionError(offset: 4, message: "unexpected character '.'"))
    }

    @Test func booleansAreOneAndZero() throws {
        #expect(try compile("ok == true").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, 1, .nan]))
        #expect(try !compile("ok == true").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, 0, .nan]))
        #expect(try compile("ok == false").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, 0, .nan]))
        #expect(try compile("ok != false").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, 1, .nan]))
        #expect(try compile("true == ok").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, 1, .nan]))
        // A missing field is null: it equals neither.
        #expect(try !compile("ok == true or ok == false or ok != true").evaluate(numbers: [.nan, .nan, .nan, .nan, .nan, .nan, .nan]))
        // Only == and != take a boolean for a number.
        #expect(throws: ExpressionError(offset: 5, message: "'>' needs a number here, not a boolean")) {
            try compile("ok > true")
        }
    }
}
