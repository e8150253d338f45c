// Trigger expressions: parsing, precedence, null semantics and errors with offsets.
import Streaming
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
