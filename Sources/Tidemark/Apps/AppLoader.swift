// Loads app files: one YAML file, or every *.yaml / *.yml file of a directory (one app a
// file), reporting all errors across all files and checking app names are unique.
import Foundation

/// Reads and validates app files.
public enum AppLoader {
    /// Loads the app file at `path`, or every `*.yaml`/`*.yml` file (sorted by name, not
    /// recursive) if `path` is a directory.
    ///
    /// - Throws: every problem found, each as `file:line:column: error: message`.
    public static func load(path: String) throws(ConfigErrors) -> [AppDefinition] {
        let (sources, readErrors) = try ConfigSources.read(path: path, kind: "app files")
        let apps: [AppDefinition]
        do {
            apps = try parse(sources)
        } catch {
            throw ConfigErrors(readErrors + error.errors)
        }
        guard readErrors.isEmpty else { throw ConfigErrors(readErrors) }
        return apps
    }

    /// Loads one app file.
    public static func loadFile(_ file: String) throws(ConfigErrors) -> AppDefinition {
        let yaml: String
        do {
            yaml = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigErrors([ConfigError(file: file, line: nil, column: nil, message: "cannot read file: \(error)")])
        }
        return try parse([(file, yaml)])[0]
    }

    /// Parses app files already in memory; `file` names each in diagnostics.
    public static func parse(_ sources: [(file: String, yaml: String)]) throws(ConfigErrors) -> [AppDefinition] {
        var apps: [AppDefinition] = []
        var errors: [ConfigError] = []
        var firstByName: [String: String] = [:]
        for source in sources {
            var parser = AppFileParser(file: source.file)
            let parsed = parser.parse(yaml: source.yaml)
            errors += parser.errors
            guard let parsed else { continue }
            let here = "\(source.file):\(parsed.nameLine):\(parsed.nameColumn)"
            if let first = firstByName[parsed.app.name] {
                errors.append(
                    ConfigError(
                        file: source.file, line: parsed.nameLine, column: parsed.nameColumn,
                        message: "duplicate app name '\(parsed.app.name)' (also defined at \(first))"))
                continue
            }
            firstByName[parsed.app.name] = here
            apps.append(parsed.app)
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return apps
    }
}

extension AppDefinition {
    /// Parses one app from YAML text; `file` names it in diagnostics.
    public static func parse(yaml: String, file: String) throws(ConfigErrors) -> AppDefinition {
        try AppLoader.parse([(file, yaml)])[0]
    }
}
