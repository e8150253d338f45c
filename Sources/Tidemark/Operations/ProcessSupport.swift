// What every Tidemark executable needs from its process: the wall clock and logs on stderr.
import Foundation
import Logging

/// Epoch milliseconds of the wall clock: the processing clock of a live run.
package func wallClockMillis() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Structured logs on standard error at `level`; once per process.
package func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
