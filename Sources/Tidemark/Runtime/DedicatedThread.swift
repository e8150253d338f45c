// Blocking loops (the Kafka poll loop, the simulator, the demo's view) run on threads of their
// own: on the cooperative pool, which has one thread per core, one of them would stall every
// task of the process.
import Foundation
import ServiceLifecycle
import Synchronization

/// Runs `body` on a new thread and returns what it returns, or throws what it throws.
package func runOnDedicatedThread<T: Sendable>(
    name: String, _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}

/// A request to stop that a blocking loop checks between iterations.
package final class StopRequest: Sendable {
    private let requested = Atomic<Bool>(false)

    package init() {}

    package var isRequested: Bool { requested.load(ordering: .acquiring) }

    package func request() { requested.store(true, ordering: .releasing) }
}

/// Runs a blocking loop on a thread of its own until it returns, asking it to stop (through
/// the ``StopRequest`` it is given) on graceful shutdown or cancellation: a blocking loop as
/// the body of a service.
package func runOnDedicatedThreadUntilShutdown(
    name: String, _ body: @escaping @Sendable (StopRequest) throws -> Void
) async throws {
    let stop = StopRequest()
    try await withTaskCancellationOrGracefulShutdownHandler {
        try await runOnDedicatedThread(name: name) { try body(stop) }
    } onCancelOrGracefulShutdown: {
        stop.request()
    }
}
