// Loads app files: one YAML file, or every *.yaml / *.yml file of a directory (one app a
// file), reporting all errors across all files; names must be unique and no topic cycle may
// run through the apps.

/// Reads and validates app files.
package enum AppLoader {
    /// Loads the app file at `path`, or every `*.yaml`/`*.yml` file (sorted by name, not
    /// recursive) if `path` is a directory.
    ///
    /// - Parameter group: the consumer group the apps run in: an app may not write into its
    ///   internal topics.
    /// - Throws: every problem found, each as `file:line:column: error: message`.
    package static func load(path: String, group: String? = nil) throws(ConfigErrors) -> [AppDefinition] {
        let load = loadEach(path: path)
        let checked = AppSetRules.check(load, group: group, freshness: { _ in true })
        guard load.errors.isEmpty && checked.errors.isEmpty else {
            throw ConfigErrors(AppSetRules.inFileOrder(load.errors + checked.errors, files: load.files))
        }
        return checked.apps
    }

    /// Reads every app file of `path` and checks each on its own, collecting problems instead
    /// of throwing: what `run` reloads from (see ``AppReload``). Names and topic cycles across
    /// files are not checked here.
    package static func loadEach(path: String) -> AppDirectoryLoad {
        let files: [String]
        do {
            files = try ConfigSources.files(path: path, kind: "app files")
        } catch {
            return AppDirectoryLoad(isListed: false, files: [], apps: [], errors: error.errors, placements: [])
        }
        var sources: [(file: String, yaml: String)] = []
        var readErrors: [ConfigError] = []
        for file in files {
            switch ConfigFile.read(file) {
            case .success(let text): sources.append((file, text))
            case .failure(let error): readErrors.append(error)
            }
        }
        var load = parseEach(sources)
        load.files = files
        load.errors = AppSetRules.inFileOrder(readErrors + load.errors, files: files)
        return load
    }

    /// Loads one app file.
    package static func loadFile(_ file: String) throws(ConfigErrors) -> AppDefinition {
        switch ConfigFile.read(file) {
        case .success(let yaml): return try parse([(file, yaml)])[0]
        case .failure(let error): throw ConfigErrors([error])
        }
    }

    /// Parses app files already in memory; `file` names each in diagnostics.
    package static func parse(_ sources: [(file: String, yaml: String)], group: String? = nil) throws(ConfigErrors) -> [AppDefinition] {
        let load = parseEach(sources)
        let checked = AppSetRules.check(load, group: group, freshness: { _ in true })
        guard load.errors.isEmpty && checked.errors.isEmpty else {
            throw ConfigErrors(AppSetRules.inFileOrder(load.errors + checked.errors, files: load.files))
        }
        return checked.apps
    }

    /// Parses app files already in memory, each on its own (see ``loadEach(path:)``).
    package static func parseEach(_ sources: [(file: String, yaml: String)]) -> AppDirectoryLoad {
        var load = AppDirectoryLoad(isListed: true, files: sources.map(\.file), apps: [], errors: [], placements: [])
        for source in sources {
            var parser = AppFileParser(file: source.file)
            let parsed = parser.parse(yaml: source.yaml)
            load.errors += parser.errors
            guard let parsed else { continue }
            load.apps.append(parsed.app)
            load.placements.append(parsed.placement)
        }
        return load
    }
}

extension AppDefinition {
    /// Parses one app from YAML text; `file` names it in diagnostics.
    package static func parse(yaml: String, file: String) throws(ConfigErrors) -> AppDefinition {
        try AppLoader.parse([(file, yaml)])[0]
    }
}

/// An app directory read file by file: each file parsed and checked alone.
package struct AppDirectoryLoad: Sendable {
    /// False when `path` could not be listed (missing, unreadable, no app file): nothing is
    /// known about any app, and `errors` says why.
    package var isListed: Bool
    /// Every app file found, sorted by name, whether it loads or not.
    package var files: [String]
    /// The apps of the files that load on their own, in file order.
    package var apps: [AppDefinition]
    /// Problems of single files, each naming its file; a file with a problem has no app in
    /// `apps`.
    package var errors: [ConfigError]
    /// Where each app's name and outputs are, parallel to `apps`.
    var placements: [AppPlacement]
}

/// Where an app's name and output topics are in its file, to report problems found only
/// across files (a duplicate name, a topic cycle) at the right spot.
struct AppPlacement: Sendable, Equatable {
    var name: SourcePosition
    /// The first node naming each output topic (the app name for the default late topic).
    var outputs: [String: SourcePosition] = [:]

    init(name: SourcePosition) {
        self.name = name
    }
}

/// A 1-based line and column in a file.
struct SourcePosition: Sendable, Equatable {
    var line: Int
    var column: Int
}
