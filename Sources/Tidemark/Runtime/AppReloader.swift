// Hot reload as a service: app files added, changed or removed take effect without restarting
// the other apps; a file that no longer loads keeps its app's previous version running and is
// reported like a syntax error (logged with file, line and column, counted, and shown by
// /health as degraded until a reload finds it fixed). SIGHUP asks for a reload at once.
import Logging
import ServiceLifecycle
import Synchronization

/// Checks the app directory on a period, or at once when asked, and hands a changed app set
/// to the consumer service.
final class AppReloader: Service {
    private let path: String
    private let interval: Duration
    private let service: ConsumerService
    private let metrics: RuntimeMetrics
    private let health: HealthState
    private let logger: Logger
    /// The apps running now (the last set handed to the consumer service).
    private let running: Mutex<[AppDefinition]>

    /// When to look at the directory: a period passed, or a reload was asked for.
    private enum Turn: Sendable { case tick, requested }
    private let turns: AsyncStream<Turn>
    private let nextTurn: AsyncStream<Turn>.Continuation

    /// The `/health` condition this reloader sets while app files are refused.
    static let healthCondition = "apps"

    init(
        path: String, interval: Duration, apps: [AppDefinition], service: ConsumerService, metrics: RuntimeMetrics, health: HealthState,
        logger: Logger
    ) {
        self.path = path
        self.interval = interval
        self.service = service
        self.metrics = metrics
        self.health = health
        self.logger = logger
        running = Mutex(apps)
        // A few turns are plenty: one pending reload covers any number of requests.
        (turns, nextTurn) = AsyncStream.makeStream(of: Turn.self, bufferingPolicy: .bufferingNewest(4))
    }

    /// Reads the app directory again at once, whether or not a file looks changed (SIGHUP).
    func requestReload() {
        nextTurn.yield(.requested)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while (try? await Task.sleep(for: self.interval)) != nil { self.nextTurn.yield(.tick) }
                }
                var watcher = AppDirectoryWatcher(path: self.path)
                for await turn in self.turns {
                    switch turn {
                    case .tick:
                        if watcher.changed() { self.reload() }
                    case .requested:
                        _ = watcher.changed()
                        self.logger.info("reloading app files on request (SIGHUP)", metadata: ["apps": "\(self.path)"])
                        self.reload(requested: true)
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func reload(requested: Bool = false) {
        let previous = running.withLock { $0 }
        var outcome = AppReload.next(running: previous, load: AppLoader.loadEach(path: path), group: service.group)
        for error in outcome.errors {
            logger.error("app file rejected; its previous version (if any) goes on", metadata: ["error": "\(error)"])
        }
        var refused = outcome.errors.count
        var problems = outcome.errors.map(\.description)
        // A new app (or one reading another topic) needs its changelog first.
        let fresh = outcome.apps.filter { app in !previous.contains { $0.name == app.name && $0.input.topic == app.input.topic } }
        for problem in service.clients.ensure(
            ChangelogTopic.needed(by: fresh, group: service.group), config: service.producerConfig, timeout: .seconds(10))
        {
            logger.error("app not started; its previous version (if any) goes on", metadata: ["error": "\(problem)"])
            problems.append("\(problem)")
            refused += 1
            outcome.apps.removeAll { $0.name == problem.app }
            if let old = previous.first(where: { $0.name == problem.app }) { outcome.apps.append(old) }
        }
        metrics.countAppFileErrors(refused)
        health.setCondition(Self.healthCondition, Self.describe(problems))
        guard outcome.apps != previous else {
            if requested { logger.info("apps unchanged", metadata: ["apps": "\(previous.map(\.name).joined(separator: ","))"]) }
            return
        }
        running.withLock { $0 = outcome.apps }
        service.update(apps: outcome.apps)
        logger.info("apps reloaded", metadata: ["apps": "\(outcome.apps.map(\.name).joined(separator: ","))"])
    }
}

extension AppReloader {
    /// What `/health` says about refused app files: nil when there are none; the first few
    /// in full, so a directory of broken files does not make a report of megabytes.
    static func describe(_ problems: [String]) -> String? {
        guard !problems.isEmpty else { return nil }
        let shown = problems.prefix(5).joined(separator: "; ")
        let more = problems.count > 5 ? "; and \(problems.count - 5) more (see the log)" : ""
        return "app files refused, the apps they held run their previous version (if any): \(shown)\(more)"
    }
}
