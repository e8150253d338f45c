// What a running process does when its app directory changes and some files are broken: each
// broken file keeps its app's previous version running (or does not start a new app), every
// other file takes effect, and each refusal is reported like a syntax error.

/// The reload rule of `tidemark run`, as a pure function of the running apps and a fresh
/// read of the directory.
package enum AppReload {
    /// The app set to switch to, and why files were not applied.
    package struct Outcome: Sendable, Equatable {
        /// The apps to run, in file order.
        package var apps: [AppDefinition]
        /// One or more errors for each file not applied, each naming its file, line and
        /// column where known: log each, and count them.
        package var errors: [ConfigError]
        /// The files whose app keeps running its previous version.
        package var keptPrevious: [String]

        package init(apps: [AppDefinition], errors: [ConfigError], keptPrevious: [String]) {
            self.apps = apps
            self.errors = errors
            self.keptPrevious = keptPrevious
        }
    }

    /// The next app set after a change to the app directory.
    ///
    /// - A file that loads gives its new version (or the same one: no restart).
    /// - A file that fails (cannot be read, does not parse, or its app cannot start) keeps
    ///   the previous version of the app it held, or starts nothing if it held none.
    /// - A removed file stops its app.
    /// - A new or changed app that would share a name with another app, write into an
    ///   internal topic of the group, or close a topic cycle through the apps, is refused like a broken file; apps already running keep
    ///   their place.
    /// - A directory that cannot be listed (or holds no app file) changes nothing.
    ///
    /// - Parameters:
    ///   - running: the apps running now.
    ///   - load: a fresh ``AppLoader/loadEach(path:)`` of the directory.
    ///   - group: the consumer group, whose internal topics no app may write into.
    package static func next(running: [AppDefinition], load: AppDirectoryLoad, group: String? = nil) -> Outcome {
        guard load.isListed else { return Outcome(apps: running, errors: load.errors, keptPrevious: []) }
        let previousByFile = Dictionary(running.map { ($0.sourceFile, $0) }, uniquingKeysWith: { first, _ in first })
        let freshByFile = Dictionary(
            load.apps.indices.map { (load.apps[$0].sourceFile, $0) }, uniquingKeysWith: { first, _ in first })

        var candidates: [AppSetRules.Candidate] = []
        var errors = load.errors
        for file in load.files {
            if let index = freshByFile[file] {
                let app = load.apps[index]
                candidates.append(
                    AppSetRules.Candidate(app: app, placement: load.placements[index], isFresh: previousByFile[file] != app))
            } else if let previous = previousByFile[file] {
                candidates.append(AppSetRules.Candidate(app: previous, placement: nil, isFresh: false))
            }
        }
        // Refusing an app brings back its previous version, which may meet another fresh app:
        // check again until nothing fresh is refused (each round refuses at least one).
        while true {
            let refusals = AppSetRules.refusals(candidates, group: group)
            guard !refusals.isEmpty else { break }
            errors += refusals.map(\.error)
            for refusal in refusals.reversed() {
                let file = candidates[refusal.index].app.sourceFile
                if let previous = previousByFile[file] {
                    candidates[refusal.index] = AppSetRules.Candidate(app: previous, placement: nil, isFresh: false)
                } else {
                    candidates.remove(at: refusal.index)
                }
            }
        }
        let apps = candidates.map(\.app)
        let kept = apps.filter { app in freshByFile[app.sourceFile].map { load.apps[$0] != app } ?? true }.map(\.sourceFile)
        return Outcome(apps: apps, errors: AppSetRules.inFileOrder(errors, files: load.files), keptPrevious: kept)
    }
}
