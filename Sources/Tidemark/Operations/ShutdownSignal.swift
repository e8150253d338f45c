// SIGINT/SIGTERM as a flag that long-running commands check. The handler only stores to an
// atomic (async-signal-safe), whichever thread the signal lands on.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Set by the SIGINT/SIGTERM handler.
private let signalReceived = Atomic<Bool>(false)

/// Whether the process was asked to stop.
public final class ShutdownSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    private let followsSignals: Bool

    /// A flag set by nothing but ``request()``: for tests and embedded runs.
    public convenience init() { self.init(followsSignals: false) }

    private init(followsSignals: Bool) { self.followsSignals = followsSignals }

    /// A flag also set by SIGINT and SIGTERM. Also ignores SIGPIPE: a peer that goes away
    /// mid-write must be a socket error, not the end of the process (librdkafka's mock
    /// broker writes without MSG_NOSIGNAL).
    public static func installed() -> ShutdownSignal {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGINT) { _ in signalReceived.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in signalReceived.store(true, ordering: .relaxed) }
        return ShutdownSignal(followsSignals: true)
    }

    public var isRequested: Bool {
        requested.load(ordering: .acquiring) || (followsSignals && signalReceived.load(ordering: .relaxed))
    }

    /// Sets the flag, as a signal would.
    public func request() { requested.store(true, ordering: .releasing) }

    /// Blocks until the flag is set, checking twenty times a second.
    public func wait() {
        while !isRequested { usleep(50_000) }
    }
}
