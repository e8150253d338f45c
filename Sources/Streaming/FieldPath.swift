// How an app file names a record field: a path through nested JSON objects, `meta.id`, with
// backquotes for keys no identifier spells. One spelling for app files and trigger expressions.

/// A record field named by the keys leading to it, outermost first.
///
/// Spelling: segments joined by `.`; a segment is an identifier (a letter or `_`, then
/// letters, digits or `_`) or any non-empty key in backquotes, a backquote in it doubled.
/// `meta.id` is the key "id" inside the object under "meta"; `` `meta.id` `` is the top-level
/// key "meta.id"; `` meta.`a b` `` the key "a b" inside "meta". A path of one segment that
/// is a word of the expression language (`and`, `or`, `not`, `true`, `false`, `null`) must
/// be backquoted too: `` `and` ``.
package struct FieldPath: Sendable, Hashable {
    /// The keys, outermost first; never empty, no key empty.
    package let segments: [String]

    /// Words that are operators or literals in trigger expressions.
    package static let keywords: Set<String> = ["and", "or", "not", "true", "false", "null"]

    package init(_ segments: [String]) {
        precondition(!segments.isEmpty && !segments.contains(""), "a field path has non-empty segments")
        self.segments = segments
    }

    /// The shortest spelling, the one slots and error messages use: a segment is backquoted
    /// only when it must be. Two spellings of one path give the same `spelling`.
    package var spelling: String {
        let needsQuotes: (String) -> Bool = { segment in
            !Self.isIdentifier(segment) || (segments.count == 1 && Self.keywords.contains(segment))
        }
        return segments.map { segment in
            needsQuotes(segment) ? "`" + segment.replacing("`", with: "``") + "`" : segment
        }.joined(separator: ".")
    }

    /// Parses a whole spelling, e.g. a YAML `device:` value or an aggregate's argument.
    package static func parse(_ text: String) throws(ExpressionError) -> FieldPath {
        let scalars = Array(text.unicodeScalars)
        var position = 0
        let path = try scan(scalars, at: &position)
        guard position == scalars.count else {
            throw ExpressionError(
                offset: position,
                message: "unexpected character '\(scalars[position])' in field name '\(text)'; write a key that is not an identifier in backquotes, e.g. `\(text)`")
        }
        return path
    }

    /// Scans a path starting at `position` (a letter, `_` or a backquote), to just after it.
    /// A dot continues the path only when a segment follows it.
    static func scan(_ scalars: [Unicode.Scalar], at position: inout Int) throws(ExpressionError) -> FieldPath {
        let start = position
        var segments: [String] = []
        var bare = true
        while true {
            guard position < scalars.count else {
                throw ExpressionError(offset: position, message: "expected a field name")
            }
            if scalars[position] == "`" {
                bare = false
                let open = position
                position += 1
                var segment = ""
                while true {
                    guard position < scalars.count else {
                        throw ExpressionError(offset: open, message: "unterminated backquote in a field name")
                    }
                    let c = scalars[position]
                    position += 1
                    if c == "`" {
                        guard position < scalars.count, scalars[position] == "`" else { break }
                        position += 1
                    }
                    segment.unicodeScalars.append(c)
                }
                guard !segment.isEmpty else {
                    throw ExpressionError(offset: open, message: "empty key `` in a field name")
                }
                segments.append(segment)
            } else if isIdentifierStart(scalars[position]) {
                var segment = ""
                while position < scalars.count, isIdentifierPart(scalars[position]) {
                    segment.unicodeScalars.append(scalars[position])
                    position += 1
                }
                segments.append(segment)
            } else {
                throw ExpressionError(
                    offset: position, message: "expected a field name, found '\(scalars[position])'")
            }
            guard position + 1 < scalars.count, scalars[position] == ".",
                scalars[position + 1] == "`" || isIdentifierStart(scalars[position + 1])
            else { break }
            bare = false
            position += 1
        }
        if bare, segments.count == 1, keywords.contains(segments[0]) {
            throw ExpressionError(
                offset: start,
                message: "'\(segments[0])' is a word of trigger expressions; write the field named so as `\(segments[0])`")
        }
        return FieldPath(segments)
    }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic
    }

    static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || ("0"..."9").contains(c)
    }

    /// A bare segment: a letter or `_`, then letters, digits or `_`.
    package static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isIdentifierStart(first) else { return false }
        return text.unicodeScalars.allSatisfy(isIdentifierPart)
    }
}
