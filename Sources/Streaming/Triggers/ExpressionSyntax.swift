// The trigger expression language's syntax tree and its parser: numbers, strings,
// field references, arithmetic, comparisons and boolean logic, with errors that carry offsets.

/// A parse or compile error in a trigger expression.
///
/// `offset` counts Unicode scalars from the start of the expression text, the unit
/// YAML columns use, so an app file can point at the exact character.
package struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Unicode-scalar offset of the problem in the expression text.
    package var offset: Int
    package var message: String

    package init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    package var description: String { "\(offset): \(message)" }
}

/// A unary operator.
package enum UnaryOperator: Sendable, Equatable {
    case negate
    case not
}

/// A binary operator, arithmetic, comparison or logical.
package enum BinaryOperator: Sendable, Equatable {
    case add, subtract, multiply, divide, remainder
    case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
    case and, or

    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: true
        default: false
        }
    }

    var spelling: String {
        switch self {
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        case .remainder: "%"
        case .equal: "=="
        case .notEqual: "!="
        case .less: "<"
        case .lessOrEqual: "<="
        case .greater: ">"
        case .greaterOrEqual: ">="
        case .and: "and"
        case .or: "or"
        }
    }
}

/// A parsed trigger expression; `offset` is where the node starts in the source.
package indirect enum ExpressionSyntax: Sendable, Equatable {
    case number(Double, offset: Int)
    case string(String, offset: Int)
    case boolean(Bool, offset: Int)
    case null(offset: Int)
    /// A field reference, e.g. `temperature`, `sensor.temperature` or `` `and` ``, by its
    /// ``FieldPath/spelling``.
    case field(String, offset: Int)
    case unary(UnaryOperator, ExpressionSyntax, offset: Int)
    case binary(BinaryOperator, ExpressionSyntax, ExpressionSyntax, offset: Int)

    /// Where this node starts in the source.
    package var offset: Int {
        switch self {
        case .number(_, let o), .string(_, let o), .boolean(_, let o), .null(let o), .field(_, let o),
            .unary(_, _, let o), .binary(_, _, _, let o):
            o
        }
    }

    /// The deepest nesting of parentheses, `not` and unary `-` an expression may have.
    ///
    /// Parsing, compiling, comparing and freeing a syntax tree recurse once per level, on
    /// whatever thread loads the app (a reload thread may have a small stack): bounding the
    /// levels bounds the stack, far above what a person writes.
    package static let maxNesting = 32
    /// The most operators (`+`, `and`, `==`, unary `-`, …) one expression may have. A chain
    /// `a + b + c …` is a tree as deep as it is long, so this bounds the depth of every tree,
    /// and the evaluation stack, too.
    package static let maxOperators = 256

    /// Parses an expression, e.g. `temperature > 30 or temperature < 5`.
    ///
    /// Expressions deeper than ``maxNesting`` or with more than ``maxOperators`` operators
    /// are refused with the offset of the first operator past the bound.
    package static func parse(_ source: String) throws(ExpressionError) -> ExpressionSyntax {
        var parser = ExpressionParser(source)
        return try parser.parseExpression()
    }

    /// Every field this expression reads, in order of appearance, with how it is read.
    package var fieldUses: [FieldUse] {
        // An explicit stack rather than recursion: a chain `a + b + …` is as deep as it is long.
        var uses: [FieldUse] = []
        var pending: [ExpressionSyntax] = [self]
        while let node = pending.popLast() {
            switch node {
            case .field(let name, let offset):
                uses.append(FieldUse(name: name, kind: .number, offset: offset))
            case .unary(_, let operand, _):
                pending.append(operand)
            case .binary(let op, let lhs, let rhs, _):
                // A field compared for (in)equality with a string literal is read as a string.
                if op == .equal || op == .notEqual {
                    if case .field(let name, let offset) = lhs, case .string = rhs {
                        uses.append(FieldUse(name: name, kind: .string, offset: offset))
                        continue
                    }
                    if case .string = lhs, case .field(let name, let offset) = rhs {
                        uses.append(FieldUse(name: name, kind: .string, offset: offset))
                        continue
                    }
                }
                pending.append(rhs)
                pending.append(lhs)
            default:
                break
            }
        }
        return uses
    }

    /// Node by node, without recursion (see ``fieldUses``).
    package static func == (a: ExpressionSyntax, b: ExpressionSyntax) -> Bool {
        var pending: [(ExpressionSyntax, ExpressionSyntax)] = [(a, b)]
        while let (a, b) = pending.popLast() {
            switch (a, b) {
            case (.number(let x, let o), .number(let y, let p)): guard x == y && o == p else { return false }
            case (.string(let x, let o), .string(let y, let p)): guard x == y && o == p else { return false }
            case (.boolean(let x, let o), .boolean(let y, let p)): guard x == y && o == p else { return false }
            case (.null(let o), .null(let p)): guard o == p else { return false }
            case (.field(let x, let o), .field(let y, let p)): guard x == y && o == p else { return false }
            case (.unary(let f, let x, let o), .unary(let g, let y, let p)):
                guard f == g && o == p else { return false }
                pending.append((x, y))
            case (.binary(let f, let x1, let x2, let o), .binary(let g, let y1, let y2, let p)):
                guard f == g && o == p else { return false }
                pending.append((x2, y2))
                pending.append((x1, y1))
            default:
                return false
            }
        }
        return true
    }
}

/// One reference to a field in an expression.
package struct FieldUse: Sendable, Equatable {
    /// Whether a field is read as a number (NaN: null) or as a string (compared to literals).
    package enum Kind: Sendable, Equatable {
        case number
        case string
    }

    package var name: String
    package var kind: Kind
    /// Unicode-scalar offset of the reference in the expression text.
    package var offset: Int

    package init(name: String, kind: Kind, offset: Int) {
        self.name = name
        self.kind = kind
        self.offset = offset
    }
}

private enum Token: Equatable {
    case number(Double)
    case string(String)
    /// A bare word: a keyword or a one-segment field name.
    case identifier(String)
    /// A field path with a dot or a backquote, by its ``FieldPath/spelling``.
    case path(String)
    case op(String)
    case leftParen, rightParen
    case end

    var spelling: String {
        switch self {
        case .number(let v): v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        case .string(let s): "\"\(s)\""
        case .identifier(let s): s
        case .path(let s): s
        case .op(let s): s
        case .leftParen: "("
        case .rightParen: ")"
        case .end: "end of expression"
        }
    }
}

/// Precedence climbing, lowest first: `or`, `and`, `not`, comparisons, `+ -`, `* / %`, unary `-`.
private struct ExpressionParser {
    let scalars: [Unicode.Scalar]
    var position = 0
    var token: Token = .end
    var tokenOffset = 0
    var tokenEnd = 0
    var lexError: ExpressionError?
    /// Parentheses, `not` and unary `-` enclosing the token being parsed.
    var nesting = 0
    var operators = 0

    init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    mutating func parseExpression() throws(ExpressionError) -> ExpressionSyntax {
        try advance()
        if token == .end {
            throw ExpressionError(offset: tokenOffset, message: "expected an expression")
        }
        let expression = try parseOr(after: nil)
        if token != .end {
            let message: String
            if case .rightParen = token {
                message = "unmatched ')'"
            } else {
                message = "expected an operator or the end of the expression, found '\(token.spelling)'"
            }
            throw ExpressionError(offset: tokenOffset, message: message)
        }
        return expression
    }

    // MARK: Grammar

    private func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name) = token { return name == word }
        return false
    }

    private func isOperator(_ spelling: String) -> Bool {
        token == .op(spelling)
    }

    /// Counts the operator at the current token; refuses one past ``ExpressionSyntax/maxOperators``.
    private mutating func countOperator() throws(ExpressionError) {
        operators += 1
        guard operators <= ExpressionSyntax.maxOperators else {
            throw ExpressionError(
                offset: tokenOffset,
                message: "expression too long: at most \(ExpressionSyntax.maxOperators) operators; split it into several triggers")
        }
    }

    /// Enters one more level of nesting at the current token (`(`, `not`, unary `-`).
    private mutating func enterNesting() throws(ExpressionError) {
        nesting += 1
        guard nesting <= ExpressionSyntax.maxNesting else {
            throw ExpressionError(
                offset: tokenOffset,
                message: "expression nested too deeply: at most \(ExpressionSyntax.maxNesting) levels of parentheses, 'not' and '-'")
        }
    }

    private mutating func parseOr(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        var lhs = try parseAnd(after: previous)
        while isKeyword("or") || isOperator("||") {
            let spelling = token.spelling
            let offset = lhs.offset
            try countOperator()
            try advance()
            let rhs = try parseAnd(after: spelling)
            lhs = .binary(.or, lhs, rhs, offset: offset)
        }
        return lhs
    }

    private mutating func parseAnd(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        var lhs = try parseNot(after: previous)
        while isKeyword("and") || isOperator("&&") {
            let spelling = token.spelling
            let offset = lhs.offset
            try countOperator()
            try advance()
            let rhs = try parseNot(after: spelling)
            lhs = .binary(.and, lhs, rhs, offset: offset)
        }
        return lhs
    }

    private mutating func parseNot(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        if isKeyword("not") || isOperator("!") {
            let spelling = token.spelling
            let offset = tokenOffset
            try countOperator()
            try enterNesting()
            try advance()
            let operand = try parseNot(after: spelling)
            nesting -= 1
            return .unary(.not, operand, offset: offset)
        }
        return try parseComparison(after: previous)
    }

    private mutating func parseComparison(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        let lhs = try parseAdditive(after: previous)
        let comparisons: [(String, BinaryOperator)] = [
            ("==", .equal), ("!=", .notEqual), ("<=", .lessOrEqual), ("<", .less),
            (">=", .greaterOrEqual), (">", .greater),
        ]
        guard case .op(let spelling) = token, let op = comparisons.first(where: { $0.0 == spelling })?.1 else {
            return lhs
        }
        try countOperator()
        try advance()
        let rhs = try parseAdditive(after: spelling)
        if case .op(let next) = token, comparisons.contains(where: { $0.0 == next }) {
            throw ExpressionError(
                offset: tokenOffset,
                message: "comparisons do not chain; combine them with 'and', e.g. a < b and b < c")
        }
        return .binary(op, lhs, rhs, offset: lhs.offset)
    }

    private mutating func parseAdditive(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        var lhs = try parseMultiplicative(after: previous)
        while isOperator("+") || isOperator("-") {
            let spelling = token.spelling
            try countOperator()
            try advance()
            let rhs = try parseMultiplicative(after: spelling)
            lhs = .binary(spelling == "+" ? .add : .subtract, lhs, rhs, offset: lhs.offset)
        }
        return lhs
    }

    private mutating func parseMultiplicative(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        var lhs = try parseUnary(after: previous)
        while isOperator("*") || isOperator("/") || isOperator("%") {
            let spelling = token.spelling
            try countOperator()
            try advance()
            let rhs = try parseUnary(after: spelling)
            let op: BinaryOperator = spelling == "*" ? .multiply : spelling == "/" ? .divide : .remainder
            lhs = .binary(op, lhs, rhs, offset: lhs.offset)
        }
        return lhs
    }

    private mutating func parseUnary(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        if isOperator("-") {
            let offset = tokenOffset
            try countOperator()
            try enterNesting()
            try advance()
            let operand = try parseUnary(after: "-")
            nesting -= 1
            return .unary(.negate, operand, offset: offset)
        }
        return try parsePrimary(after: previous)
    }

    private mutating func parsePrimary(after previous: String?) throws(ExpressionError) -> ExpressionSyntax {
        let offset = tokenOffset
        switch token {
        case .number(let value):
            try advance()
            return .number(value, offset: offset)
        case .string(let value):
            try advance()
            return .string(value, offset: offset)
        case .identifier(let name):
            switch name {
            case "true", "false":
                try advance()
                return .boolean(name == "true", offset: offset)
            case "null":
                try advance()
                return .null(offset: offset)
            case "and", "or", "not":
                throw missingOperand(after: previous)
            default:
                try advance()
                return .field(name, offset: offset)
            }
        case .path(let spelling):
            try advance()
            return .field(spelling, offset: offset)
        case .leftParen:
            try enterNesting()
            try advance()
            if token == .end || token == .rightParen {
                throw ExpressionError(offset: tokenOffset, message: "expected an expression after '('")
            }
            let inner = try parseOr(after: "(")
            guard token == .rightParen else {
                throw ExpressionError(
                    offset: tokenOffset, message: "expected ')' to close the '(' at offset \(offset)")
            }
            try advance()
            nesting -= 1
            return inner
        case .op, .rightParen, .end:
            throw missingOperand(after: previous)
        }
    }

    private func missingOperand(after previous: String?) -> ExpressionError {
        let found = token == .end ? "" : ", found '\(token.spelling)'"
        if let previous {
            return ExpressionError(offset: tokenOffset, message: "expected an operand after '\(previous)'\(found)")
        }
        return ExpressionError(offset: tokenOffset, message: "expected an operand\(found)")
    }

    // MARK: Lexer

    private mutating func advance() throws(ExpressionError) {
        while position < scalars.count, scalars[position].properties.isWhitespace { position += 1 }
        tokenOffset = position
        guard position < scalars.count else {
            token = .end
            return
        }
        let c = scalars[position]
        switch c {
        case "0"..."9", ".":
            token = try lexNumber()
        case "\"":
            token = try lexString()
        case "(":
            position += 1
            token = .leftParen
        case ")":
            position += 1
            token = .rightParen
        case "+", "-", "*", "/", "%":
            position += 1
            token = .op(String(c))
        case "=", "!", "<", ">", "&", "|":
            let next: Unicode.Scalar? = position + 1 < scalars.count ? scalars[position + 1] : nil
            let pair = next.map { String(c) + String($0) }
            if let pair, ["==", "!=", "<=", ">=", "&&", "||"].contains(pair) {
                position += 2
                token = .op(pair)
            } else if c == "!" || c == "<" || c == ">" {
                position += 1
                token = .op(String(c))
            } else if c == "=" {
                throw ExpressionError(offset: position, message: "use '==' to compare for equality")
            } else {
                throw ExpressionError(offset: position, message: "use '\(c)\(c)' or '\(c == "&" ? "and" : "or")'")
            }
        default:
            if c == "`" || FieldPath.isIdentifierStart(c) {
                token = try lexField()
            } else {
                throw ExpressionError(offset: position, message: "unexpected character '\(c)'")
            }
        }
    }

    /// A bare word (a keyword or a plain field name), or a field path (`a.b`, `` `and` ``).
    private mutating func lexField() throws(ExpressionError) -> Token {
        let start = position
        if scalars[position] != "`" {
            var word = ""
            while position < scalars.count, FieldPath.isIdentifierPart(scalars[position]) {
                word.unicodeScalars.append(scalars[position])
                position += 1
            }
            let continues =
                position + 1 < scalars.count && scalars[position] == "."
                && (scalars[position + 1] == "`" || FieldPath.isIdentifierStart(scalars[position + 1]))
            guard continues else { return .identifier(word) }
            position = start
        }
        return .path(try FieldPath.scan(scalars, at: &position).spelling)
    }

    private mutating func lexNumber() throws(ExpressionError) -> Token {
        let start = position
        var text = ""
        func digits(_ p: inout Int, into text: inout String, scalars: [Unicode.Scalar]) -> Int {
            var count = 0
            while p < scalars.count, ("0"..."9").contains(scalars[p]) {
                text.unicodeScalars.append(scalars[p])
                p += 1
                count += 1
            }
            return count
        }
        var p = position
        var count = digits(&p, into: &text, scalars: scalars)
        if p < scalars.count, scalars[p] == "." {
            text += "."
            p += 1
            count += digits(&p, into: &text, scalars: scalars)
        }
        guard count > 0 else { throw ExpressionError(offset: start, message: "unexpected character '.'") }
        if p < scalars.count, scalars[p] == "e" || scalars[p] == "E" {
            var q = p + 1
            var exponent = "e"
            if q < scalars.count, scalars[q] == "+" || scalars[q] == "-" {
                exponent.unicodeScalars.append(scalars[q])
                q += 1
            }
            if digits(&q, into: &exponent, scalars: scalars) == 0 {
                throw ExpressionError(offset: q, message: "expected digits in the exponent of a number")
            }
            text += exponent
            p = q
        }
        if p < scalars.count, scalars[p] == "_" || scalars[p].properties.isAlphabetic {
            throw ExpressionError(offset: p, message: "unexpected character '\(scalars[p])' after a number")
        }
        position = p
        guard let value = Double(text) else {
            throw ExpressionError(offset: start, message: "invalid number '\(text)'")
        }
        return .number(value)
    }

    private mutating func lexString() throws(ExpressionError) -> Token {
        let start = position
        position += 1
        var value = ""
        while position < scalars.count {
            let c = scalars[position]
            position += 1
            switch c {
            case "\"":
                return .string(value)
            case "\\":
                guard position < scalars.count else { break }
                let escaped = scalars[position]
                position += 1
                switch escaped {
                case "\"", "\\", "/": value.unicodeScalars.append(escaped)
                case "n": value += "\n"
                case "t": value += "\t"
                case "r": value += "\r"
                default:
                    throw ExpressionError(offset: position - 2, message: "unknown escape '\\\(escaped)' in a string")
                }
            default:
                value.unicodeScalars.append(c)
            }
        }
        throw ExpressionError(offset: start, message: "unterminated string")
    }
}
