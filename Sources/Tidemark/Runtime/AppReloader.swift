// Hot reload as a service: app files added, changed or removed take effect without restarting
// the other apps; a directory that no longer loads leaves the running apps as they are.
import Logging
import ServiceLifecycle

/// Checks the app directory on a period and hands a changed app set to the pipeline.
final class AppReloader: Service {
    private let path: String
    private let interval: Duration
    private let pipeline: Pipeline
    private let logger: Logger

    init(path: String, interval: Duration, pipeline: Pipeline, logger: Logger) {
        self.path = path
        self.interval = interval
        self.pipeline = pipeline
        self.logger = logger
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
        do throws(ConfigErrors) {
            let apps = try AppLoader.load(path: path)
            pipeline.update(apps: apps)
            logger.info("apps reloaded", metadata: ["apps": "\(apps.map(\.name).joined(separator: ","))"])
        } catch {
            for problem in error.errors { logger.error("app file rejected; the running apps go on", metadata: ["error": "\(problem)"]) }
        }
    }
}
