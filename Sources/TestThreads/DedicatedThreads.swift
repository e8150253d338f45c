// A test trait for tests that block: polling loops, child processes, sleeps.
// Swift Testing runs test bodies on the cooperative pool, one thread per core; on
// a two-core machine two blocking tests starve every other test, and the time
// waited counts against their time limits. Under this trait each job of a test
// runs on a thread of its own, so the pool stays free.
import Foundation
import Testing

/// Runs each job it is given on a new thread: tests that block hold their own
/// thread, never one of the cooperative pool's.
final class ThreadPerJobExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread { job.runSynchronously(on: executor) }.start()
    }
}

/// See ``Trait/dedicatedThreads``.
package struct DedicatedThreadsTrait: TestTrait, SuiteTrait, TestScoping {
    package var isRecursive: Bool { true }

    package func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        if test.isSuite {
            try await function()
        } else {
            try await withTaskExecutorPreference(ThreadPerJobExecutor()) { try await function() }
        }
    }
}

extension Trait where Self == DedicatedThreadsTrait {
    /// Each test (of a suite: each of its tests) runs on threads of its own rather
    /// than the cooperative pool, because it blocks.
    package static var dedicatedThreads: Self { DedicatedThreadsTrait() }
}
