// Loads app files: one YAML file, or every *.yaml / *.yml file of a directory (one app a
// file), reporting all errors across all files and checking app names are unique.
import Foundation

/// Reads and validates app files.
public enum AppLoader {
    /// Loads the app file at `path`, or every `*.yaml`/`*.yml` file (sorted by name, not
    /// recursive) if `path` is a directory.
    ///
    /// - Throws: every problem found, each as `file:line:column: error: message`.
    public static func load(path: String) throws(AppConfigErrors) -> [AppDefinition] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AppConfigErrors([AppConfigError(file: path, line: nil, column: nil, message: "no such file or directory")])
        }
        guard isDirectory.boolValue else {
            return [try loadFile(path)]
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw AppConfigErrors([
                AppConfigError(file: path, line: nil, column: nil, message: "cannot read directory: \(error)")
            ])
        }
        let files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        guard !files.isEmpty else {
            throw AppConfigErrors([
                AppConfigError(file: path, line: nil, column: nil, message: "no app files (*.yaml, *.yml) in this directory")
            ])
        }
        var sources: [(file: String, yaml: String)] = []
        var errors: [AppConfigError] = []
        for name in files {
            let file = path.hasSuffix("/") ? path + name : path + "/" + name
            do {
                sources.append((file, try String(contentsOfFile: file, encoding: .utf8)))
            } catch {
                errors.append(AppConfigError(file: file, line: nil, column: nil, message: "cannot read file: \(error)"))
            }
        }
        do {
            return try parse(sources)
        } catch {
            throw AppConfigErrors(errors + error.errors)
        }
    }

    /// Loads one app file.
    public static func loadFile(_ file: String) throws(AppConfigErrors) -> AppDefinition {
        let yaml: String
        do {
            yaml = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw AppConfigErrors([AppConfigError(file: file, line: nil, column: nil, message: "cannot read file: \(error)")])
        }
        return try parse([(file, yaml)])[0]
    }

    /// Parses app files already in memory; `file` names each in diagnostics.
    public static func parse(_ sources: [(file: String, yaml: String)]) throws(AppConfigErrors) -> [AppDefinition] {
        var apps: [AppDefinition] = []
        var errors: [AppConfigError] = []
        var firstByName: [String: String] = [:]
        for source in sources {
            var parser = AppFileParser(file: source.file)
            let parsed = parser.parse(yaml: source.yaml)
            errors += parser.errors
            guard let parsed else { continue }
            let here = "\(source.file):\(parsed.nameLine):\(parsed.nameColumn)"
            if let first = firstByName[parsed.app.name] {
                errors.append(
                    AppConfigError(
                        file: source.file, line: parsed.nameLine, column: parsed.nameColumn,
                        message: "duplicate app name '\(parsed.app.name)' (also defined at \(first))"))
                continue
            }
            firstByName[parsed.app.name] = here
            apps.append(parsed.app)
        }
        guard errors.isEmpty else { throw AppConfigErrors(errors) }
        return apps
    }
}

extension AppDefinition {
    /// Parses one app from YAML text; `file` names it in diagnostics.
    public static func parse(yaml: String, file: String) throws(AppConfigErrors) -> AppDefinition {
        try AppLoader.parse([(file, yaml)])[0]
    }
}
