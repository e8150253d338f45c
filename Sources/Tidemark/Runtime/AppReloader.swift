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
        let outcome = AppReload.next(running: previous, load: AppLoader.loadEach(path: path))
        for error in outcome.errors {
            logger.error("app file rejected; its previous version (if any) goes on", metadata: ["error": "\(error)"])
        }
        metrics.countAppFileErrors(outcome.errors.count)
        guard outcome.apps != previous else { return }
        running.withLock { $0 = outcome.apps }
        pipeline.update(apps: outcome.apps)
        logger.info("apps reloaded", metadata: ["apps": "\(outcome.apps.map(\.name).joined(separator: ","))"])
    }
}
