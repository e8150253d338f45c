// SIGINT/SIGTERM as a flag that long-running commands check. The signals are blocked in
// every thread and taken by one `sigwait` thread, so librdkafka's threads never see them.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Whether the process was asked to stop.
public final class ShutdownSignal: Sendable {
    private let requested = Atomic<Bool>(false)

    /// A flag set by nothing but ``request()``: for tests and embedded runs.
    public init() {}

    /// Blocks SIGINT and SIGTERM in this thread and every thread it starts later, and
    /// sets the flag when one arrives. Call early, before any other thread exists.
    public static func installed() -> ShutdownSignal {
        let signal = ShutdownSignal()
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let blocked = set
        let thread = Thread {
            var waitFor = blocked
            var received: Int32 = 0
            sigwait(&waitFor, &received)
            signal.request()
        }
        thread.name = "tidemark-signals"
        thread.start()
        return signal
    }

    public var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Sets the flag, as a signal would.
    public func request() { requested.store(true, ordering: .releasing) }

    /// Blocks until the flag is set, checking twenty times a second.
    public func wait() {
        while !isRequested { usleep(50_000) }
    }
}
