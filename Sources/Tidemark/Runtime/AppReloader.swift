// Hot reload as a service: app files added, changed or removed take effect without restarting
// the other apps; a file that no longer loads keeps its app's previous version running and is
// reported like a syntax error (logged with file, line and column, and counted).
import Logging
import ServiceLifecycle
import Synchronization

/// Checks the app directory on a period and hands a changed app set to the pipeline.
final class AppReloader: Service {
    private let path: String
    private let interval: Duration
    private let pipeline: Pipeline
    private let metrics: RuntimeMetrics
    private let logger: Logger
    /// The apps running now (the last set handed to the pipeline).
    private let running: Mutex<[AppDefinition]>

    init(path: String, interval: Duration, apps: [AppDefinition], pipeline: Pipeline, metrics: RuntimeMetrics, logger: Logger) {
        self.path = path
        self.interval = interval
        self.pipeline = pipeline
        self.metrics = metrics
        self.logger = logger
        running = Mutex(apps)
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var watcher = AppDirectoryWatcher(path: self.path)
            while true {
                try await Task.sleep(for: self.interval)
                if watcher.changed() { self.reload() }
            }
        }
    }

    private func reload() {
        let previous = running.withLock { $0 }
        var outcome = AppReload.next(running: previous, load: AppLoader.loadEach(path: path))
        for error in outcome.errors {
            logger.error("app file rejected; its previous version (if any) goes on", metadata: ["error": "\(error)"])
        }
        var refused = outcome.errors.count
        // A new app (or one reading another topic) needs its changelog first.
        let fresh = outcome.apps.filter { app in !previous.contains { $0.name == app.name && $0.input.topic == app.input.topic } }
        for problem in ChangelogTopic.ensure(
            fresh.map { ChangelogTopic(app: $0, group: pipeline.group) }, config: pipeline.producerConfig, timeout: .seconds(10))
        {
            logger.error("app not started; its previous version (if any) goes on", metadata: ["error": "\(problem)"])
            refused += 1
            outcome.apps.removeAll { $0.name == problem.app }
            if let old = previous.first(where: { $0.name == problem.app }) { outcome.apps.append(old) }
        }
        metrics.countAppFileErrors(refused)
        guard outcome.apps != previous else { return }
        running.withLock { $0 = outcome.apps }
        pipeline.update(apps: outcome.apps)
        logger.info("apps reloaded", metadata: ["apps": "\(outcome.apps.map(\.name).joined(separator: ","))"])
    }
}
