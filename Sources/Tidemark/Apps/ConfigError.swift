// Errors in configuration files (app files, topic files), each naming file:line:column like
// a compiler diagnostic, so an editor or CI log can jump to the spot.

/// One problem in a configuration file.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, as given to the loader.
    package var file: String
    /// 1-based line; nil when the problem concerns the whole file or directory.
    package var line: Int?
    /// 1-based column, in Unicode scalars.
    package var column: Int?
    /// What is wrong, and what is expected instead.
    package var message: String

    /// Creates a diagnostic.
    package init(file: String, line: Int?, column: Int?, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: error: message`.
    package var description: String {
        if let line, let column {
            return "\(file):\(line):\(column): error: \(message)"
        }
        return "\(file): error: \(message)"
    }
}

/// Every problem found while loading configuration files, in file order, then position order.
package struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// The diagnostics.
    package var errors: [ConfigError]

    /// Wraps diagnostics.
    package init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    /// One diagnostic a line.
    package var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
