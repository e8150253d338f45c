// The YAML-walking shared by app files and topic files: Yams' node API with every problem
// reported at its node's file:line:column, all problems collected rather than the first.
import Yams

/// A parser of one YAML configuration file that collects diagnostics.
///
/// Conformers get the node helpers below; each reports a mismatch into `errors` and returns
/// nil, so a parser keeps going and reports every problem of a file in one pass.
protocol ConfigNodeParser {
    /// The file named in diagnostics.
    var file: String { get }
    /// The problems found so far, in the order found.
    var errors: [ConfigError] { get set }
}

extension ConfigNodeParser {
    /// The root node of `yaml`, or nil (reported) when it is not YAML or is empty.
    mutating func compose(yaml: String, whenEmpty emptyMessage: String) -> Node? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            report(yamlError: error)
            return nil
        } catch {
            errors.append(ConfigError(file: file, line: nil, column: nil, message: "\(error)"))
            return nil
        }
        guard let root else {
            errors.append(ConfigError(file: file, line: 1, column: 1, message: emptyMessage))
            return nil
        }
        return root
    }

    // MARK: Node helpers

    /// The values of a mapping by key; unknown keys and missing required keys are reported.
    mutating func mapping(
        _ node: Node, in context: String, allowed: [String], required: [String]
    ) -> [String: Node]? {
        guard let pairs = pairs(node, what: context) else { return nil }
        var result: [String: Node] = [:]
        for (keyNode, valueNode) in pairs {
            guard let key = keyNode.scalar?.string else {
                error(at: keyNode, "keys in \(context) must be plain names")
                continue
            }
            guard allowed.contains(key) else {
                error(at: keyNode, "unknown key '\(key)' in \(context); allowed keys: \(allowed.joined(separator: ", "))")
                continue
            }
            result[key] = valueNode
        }
        for key in required where result[key] == nil && !pairs.contains(where: { $0.0.scalar?.string == key }) {
            error(at: node, "missing required key '\(key)' in \(context)")
        }
        return result
    }

    /// The key/value pairs of a mapping, in file order.
    mutating func pairs(_ node: Node, what: String) -> [(Node, Node)]? {
        guard let mapping = node.mapping else {
            error(at: node, "\(what) must be a mapping of keys to values")
            return nil
        }
        return mapping.map { ($0.key, $0.value) }
    }

    /// The items of a list; a non-list is reported and reads as empty.
    mutating func sequence(_ node: Node, what: String) -> [Node] {
        guard let sequence = node.sequence else {
            error(at: node, "\(what) must be a list (items starting with '- ')")
            return []
        }
        return Array(sequence)
    }

    /// The text of a scalar.
    mutating func string(_ node: Node, what: String) -> String? {
        guard let scalar = node.scalar else {
            error(at: node, "\(what) must be a single value, not a list or mapping")
            return nil
        }
        return scalar.string
    }

    /// The text of a scalar that is neither empty nor a plain YAML null.
    mutating func nonEmptyString(_ node: Node, what: String) -> String? {
        guard let text = string(node, what: what) else { return nil }
        let isNull = node.scalar?.style == .plain && (text == "~" || text == "null")
        guard !text.isEmpty, !isNull else {
            error(at: node, "\(what) must not be empty")
            return nil
        }
        return text
    }

    /// A decimal integer in `range` (digits only: no sign, no `0x`, no `_`).
    mutating func integer(_ node: Node, what: String, in range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, what: what) else { return nil }
        let isDecimal = !text.isEmpty && text.utf8.allSatisfy { $0 &- UInt8(ascii: "0") < 10 }
        guard isDecimal, let value = Int(text), range.contains(value) else {
            error(at: node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
            return nil
        }
        return value
    }

    /// A duration (`10s`, `5m`, …) in milliseconds, at most `maximum` when given.
    mutating func duration(_ node: Node, positive: Bool = false, maximum: Int64? = nil) -> Int64? {
        guard let text = string(node, what: "a duration") else { return nil }
        switch DurationSyntax.milliseconds(text) {
        case .success(let value):
            if positive && value == 0 {
                error(at: node, "duration must be greater than zero")
                return nil
            }
            if let maximum, value > maximum {
                error(at: node, "duration '\(text)' is too long: at most \(maximum / 86_400_000)d")
                return nil
            }
            return value
        case .failure(let failure):
            error(at: node, failure.message)
            return nil
        }
    }

    func scalarText(_ node: Node) -> String {
        node.scalar?.string ?? "?"
    }

    /// `file:line:column` of a node, for "first defined at" notes.
    func position(_ node: Node) -> String {
        guard let mark = node.mark else { return file }
        return "\(file):\(mark.line):\(mark.column)"
    }

    // MARK: Reporting

    mutating func error(at node: Node, _ message: String) {
        errors.append(ConfigError(file: file, line: node.mark?.line, column: node.mark?.column, message: message))
    }

    mutating func report(yamlError: YamlError) {
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) (\($0.text))" } ?? problem
            errors.append(ConfigError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(detail)"))
        case .duplicatedKeysInMapping(let duplicates, let context):
            errors.append(
                ConfigError(
                    file: file, line: context.mark.line, column: context.mark.column,
                    message: "duplicate key '\(duplicates.joined(separator: "', '"))'"))
        default:
            errors.append(ConfigError(file: file, line: nil, column: nil, message: "invalid YAML: \(yamlError)"))
        }
    }
}
