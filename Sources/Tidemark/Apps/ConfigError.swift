// Errors in app files, each naming file:line:column like a compiler diagnostic, so an
// editor or CI log can jump to the spot.

/// One problem in an app file.
public struct AppConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based line; nil when the problem concerns the whole file or directory.
    public var line: Int?
    /// 1-based column, in Unicode scalars.
    public var column: Int?
    public var message: String

    public init(file: String, line: Int?, column: Int?, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: error: message`.
    public var description: String {
        if let line, let column {
            return "\(file):\(line):\(column): error: \(message)"
        }
        return "\(file): error: \(message)"
    }
}

/// Every problem found while loading app files, in file order, then position order.
public struct AppConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [AppConfigError]

    public init(_ errors: [AppConfigError]) {
        self.errors = errors
    }

    /// One diagnostic a line.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
