// A trigger expression compiled to a flat postfix program over field slots, evaluated per
// record or per series result without allocating: the value stack lives on the call stack.

/// A compiled boolean trigger expression.
///
/// Fields are resolved to slots at compile time. Numeric slots hold `Double`s where NaN
/// means missing or null; string slots hold the field's UTF-8 bytes (nil: missing, null or
/// not a string).
///
/// Null semantics are SQL-like but two-valued, so a condition always decides:
/// - arithmetic with null gives null (as does division or remainder by zero);
/// - any comparison with a null operand is **false**, including `!=`
///   (`temperature != 20` does not match a record without a temperature);
/// - `x == null` and `x != null` test for missing/null explicitly;
/// - `not` negates the boolean it is given, so `not (temperature > 30)` matches a record
///   without a temperature;
/// - `true` and `false` are 1 and 0 to `==` and `!=`, as JSON booleans in records are, so
///   `ok == true` matches a record with `"ok":true` (or `"ok":1`).
package struct TriggerCondition: Sendable, Equatable {
    /// The expression text this condition was compiled from.
    package let source: String
    let program: [Instruction]
    let stringLiterals: [[UInt8]]
    let maxStackDepth: Int

    enum Instruction: Sendable, Equatable {
        case constant(Double)
        case loadNumber(slot: Int)
        case stringEquals(slot: Int, literal: Int, negated: Bool)
        case negate
        case arithmetic(BinaryOperator)
        case compare(BinaryOperator)
        case isNull(negated: Bool)
        case not
        case and
        case or
    }

    /// Compiles `syntax`, resolving field names to slots.
    ///
    /// - Parameters:
    ///   - numberSlot: the numeric slot of a field read as a number, nil if unknown.
    ///   - stringSlot: the string slot of a field compared with a string literal, nil if unknown.
    package init(
        source: String, syntax: ExpressionSyntax,
        numberSlot: (String) -> Int?, stringSlot: (String) -> Int? = { _ in nil }
    ) throws(ExpressionError) {
        // The resolvers are only used during compilation; the compiler does not outlive this scope.
        let (compiled, type) = try withoutActuallyEscaping(numberSlot) { numberSlot throws(ExpressionError) in
            try withoutActuallyEscaping(stringSlot) { stringSlot throws(ExpressionError) in
                var compiler = Compiler(numberSlot: numberSlot, stringSlot: stringSlot)
                let type = try compiler.emit(syntax)
                return ((compiler.program, compiler.stringLiterals, compiler.maxDepth), type)
            }
        }
        guard type == .boolean else {
            throw ExpressionError(
                offset: syntax.offset,
                message: "a condition must be true or false; this expression is a \(type.name)")
        }
        self.source = source
        self.program = compiled.0
        self.stringLiterals = compiled.1
        self.maxStackDepth = max(compiled.2, 1)
    }

    /// Parses and compiles `source` in one step.
    package init(
        _ source: String, numberSlot: (String) -> Int?, stringSlot: (String) -> Int? = { _ in nil }
    ) throws(ExpressionError) {
        try self.init(
            source: source, syntax: ExpressionSyntax.parse(source), numberSlot: numberSlot, stringSlot: stringSlot)
    }

    /// Evaluates the condition against one record's (or series result's) field values.
    ///
    /// - Parameters:
    ///   - numbers: numeric field values by slot, NaN for missing/null.
    ///   - strings: string field bytes by slot, nil for missing/null/non-string.
    package func evaluate(
        numbers: UnsafeBufferPointer<Double>,
        strings: UnsafeBufferPointer<UnsafeRawBufferPointer?> = UnsafeBufferPointer(start: nil, count: 0)
    ) -> Bool {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: maxStackDepth) { stack in
            var top = -1
            for instruction in program {
                switch instruction {
                case .constant(let value):
                    top += 1
                    stack[top] = value
                case .loadNumber(let slot):
                    top += 1
                    stack[top] = slot < numbers.count ? numbers[slot] : .nan
                case .stringEquals(let slot, let literal, let negated):
                    top += 1
                    guard slot < strings.count, let bytes = strings[slot] else {
                        stack[top] = 0
                        continue
                    }
                    let equal = stringLiterals[literal].withUnsafeBytes { literalBytes in
                        literalBytes.elementsEqual(bytes)
                    }
                    stack[top] = equal != negated ? 1 : 0
                case .negate:
                    stack[top] = -stack[top]
                case .arithmetic(let op):
                    let rhs = stack[top]
                    top -= 1
                    stack[top] = Self.arithmetic(op, stack[top], rhs)
                case .compare(let op):
                    let rhs = stack[top]
                    top -= 1
                    stack[top] = Self.compare(op, stack[top], rhs) ? 1 : 0
                case .isNull(let negated):
                    stack[top] = stack[top].isNaN != negated ? 1 : 0
                case .not:
                    stack[top] = stack[top] == 0 ? 1 : 0
                case .and:
                    let rhs = stack[top]
                    top -= 1
                    stack[top] = stack[top] != 0 && rhs != 0 ? 1 : 0
                case .or:
                    let rhs = stack[top]
                    top -= 1
                    stack[top] = stack[top] != 0 || rhs != 0 ? 1 : 0
                }
            }
            return stack[top] != 0
        }
    }

    /// Evaluates against an array of numeric values (convenience for tests and series results).
    package func evaluate(numbers: [Double]) -> Bool {
        numbers.withUnsafeBufferPointer { evaluate(numbers: $0) }
    }

    static func arithmetic(_ op: BinaryOperator, _ lhs: Double, _ rhs: Double) -> Double {
        switch op {
        case .add: return lhs + rhs
        case .subtract: return lhs - rhs
        case .multiply: return lhs * rhs
        case .divide: return rhs == 0 ? .nan : lhs / rhs
        case .remainder: return rhs == 0 ? .nan : lhs.truncatingRemainder(dividingBy: rhs)
        default: return .nan
        }
    }

    static func compare(_ op: BinaryOperator, _ lhs: Double, _ rhs: Double) -> Bool {
        // Null never compares: every comparison with NaN, `!=` included, is false.
        if lhs.isNaN || rhs.isNaN { return false }
        switch op {
        case .equal: return lhs == rhs
        case .notEqual: return lhs != rhs
        case .less: return lhs < rhs
        case .lessOrEqual: return lhs <= rhs
        case .greater: return lhs > rhs
        case .greaterOrEqual: return lhs >= rhs
        default: return false
        }
    }
}

private enum ValueType: Equatable {
    case number
    case boolean
    case string
    case null

    var name: String {
        switch self {
        case .number: "number"
        case .boolean: "boolean"
        case .string: "string"
        case .null: "null"
        }
    }
}

private struct Compiler {
    let numberSlot: (String) -> Int?
    let stringSlot: (String) -> Int?
    var program: [TriggerCondition.Instruction] = []
    var stringLiterals: [[UInt8]] = []
    var depth = 0
    var maxDepth = 0

    mutating func push(_ instruction: TriggerCondition.Instruction, delta: Int) {
        program.append(instruction)
        depth += delta
        maxDepth = max(maxDepth, depth)
    }

    /// What is left to do for a node: visit it, or finish it once its operands are emitted.
    private enum Step {
        case visit(ExpressionSyntax)
        case finishUnary(UnaryOperator, operand: ExpressionSyntax)
        case finishNullTest(BinaryOperator, operand: ExpressionSyntax)
        case finishBinary(BinaryOperator, ExpressionSyntax, ExpressionSyntax)
    }

    /// Emits `root` in postfix order and returns its type. Operands before operators, as a
    /// recursive walk would, but on explicit stacks: a chain `a + b + …` is a tree as deep as
    /// it is long, and a reload thread's stack may be small.
    mutating func emit(_ root: ExpressionSyntax) throws(ExpressionError) -> ValueType {
        var steps: [Step] = [.visit(root)]
        var types: [ValueType] = []
        while let step = steps.popLast() {
            switch step {
            case .visit(let node):
                switch node {
                case .number(let value, _):
                    push(.constant(value), delta: 1)
                    types.append(.number)
                case .boolean(let value, _):
                    push(.constant(value ? 1 : 0), delta: 1)
                    types.append(.boolean)
                case .null:
                    push(.constant(.nan), delta: 1)
                    types.append(.null)
                case .string(_, let offset):
                    throw ExpressionError(
                        offset: offset, message: "a string can only be compared with a field using == or !=")
                case .field(let name, let offset):
                    guard let slot = numberSlot(name) else {
                        throw ExpressionError(offset: offset, message: "unknown field '\(name)'")
                    }
                    push(.loadNumber(slot: slot), delta: 1)
                    types.append(.number)
                case .unary(let op, let operand, _):
                    steps.append(.finishUnary(op, operand: operand))
                    steps.append(.visit(operand))
                case .binary(let op, let lhs, let rhs, _):
                    if op == .equal || op == .notEqual {
                        if let stringComparison = try stringComparison(lhs, rhs, negated: op == .notEqual) {
                            types.append(stringComparison)
                            continue
                        }
                        // `x == null` / `x != null` test for null explicitly.
                        if case .null = rhs {
                            steps.append(.finishNullTest(op, operand: lhs))
                            steps.append(.visit(lhs))
                            continue
                        }
                        if case .null = lhs {
                            steps.append(.finishNullTest(op, operand: rhs))
                            steps.append(.visit(rhs))
                            continue
                        }
                    }
                    steps.append(.finishBinary(op, lhs, rhs))
                    steps.append(.visit(rhs))
                    steps.append(.visit(lhs))
                }
            case .finishUnary(.negate, let operand):
                try expect(.number, types.removeLast(), at: operand, for: "-")
                push(.negate, delta: 0)
                types.append(.number)
            case .finishUnary(.not, let operand):
                try expect(.boolean, types.removeLast(), at: operand, for: "not")
                push(.not, delta: 0)
                types.append(.boolean)
            case .finishNullTest(let op, let operand):
                try expect(.number, types.removeLast(), at: operand, for: op.spelling)
                push(.isNull(negated: op == .notEqual), delta: 0)
                types.append(.boolean)
            case .finishBinary(let op, let lhs, let rhs):
                let rhsType = types.removeLast()
                let lhsType = types.removeLast()
                types.append(try finishBinary(op, lhs, lhsType, rhs, rhsType))
            }
        }
        return types[0]
    }

    private mutating func finishBinary(
        _ op: BinaryOperator, _ lhs: ExpressionSyntax, _ lhsType: ValueType, _ rhs: ExpressionSyntax,
        _ rhsType: ValueType
    ) throws(ExpressionError) -> ValueType {
        switch op {
        case .and, .or:
            try expect(.boolean, lhsType, at: lhs, for: op.spelling)
            try expect(.boolean, rhsType, at: rhs, for: op.spelling)
            push(op == .and ? .and : .or, delta: -1)
            return .boolean
        case .equal, .notEqual:
            // A boolean is the number 1 or 0, as a JSON boolean in a record is: `ok == true`
            // matches a record whose `ok` is true (or 1).
            push(.compare(op), delta: -1)
            return .boolean
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            try expect(.number, lhsType, at: lhs, for: op.spelling)
            try expect(.number, rhsType, at: rhs, for: op.spelling)
            push(.compare(op), delta: -1)
            return .boolean
        case .add, .subtract, .multiply, .divide, .remainder:
            try expect(.number, lhsType, at: lhs, for: op.spelling)
            try expect(.number, rhsType, at: rhs, for: op.spelling)
            push(.arithmetic(op), delta: -1)
            return .number
        }
    }

    private mutating func stringComparison(
        _ lhs: ExpressionSyntax, _ rhs: ExpressionSyntax, negated: Bool
    ) throws(ExpressionError) -> ValueType? {
        let field: (String, Int)
        let literal: String
        switch (lhs, rhs) {
        case (.field(let name, let offset), .string(let value, _)), (.string(let value, _), .field(let name, let offset)):
            field = (name, offset)
            literal = value
        case (.string(let a, _), .string(let b, _)):
            push(.constant((a == b) != negated ? 1 : 0), delta: 1)
            return .boolean
        default:
            return nil
        }
        guard let slot = stringSlot(field.0) else {
            throw ExpressionError(offset: field.1, message: "unknown field '\(field.0)'")
        }
        stringLiterals.append(Array(literal.utf8))
        push(.stringEquals(slot: slot, literal: stringLiterals.count - 1, negated: negated), delta: 1)
        return .boolean
    }

    private func expect(
        _ expected: ValueType, _ actual: ValueType, at node: ExpressionSyntax, for op: String
    ) throws(ExpressionError) {
        // null is a number that is always missing: `-null` and `null + 1` are null.
        if actual == expected || (expected == .number && actual == .null) { return }
        throw ExpressionError(
            offset: node.offset, message: "'\(op)' needs a \(expected.name) here, not a \(actual.name)")
    }
}
