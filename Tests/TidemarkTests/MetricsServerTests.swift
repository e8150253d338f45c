// What the metrics server does with clients that misbehave: too many connections, idle ones,
// garbage, requests over the limits. None of them may keep /health from answering, and each
// is closed, so no client can hold the process's descriptors.
import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestThreads
import Tidemark
import TidemarkTestSupport

@Suite("metrics server under misbehaving clients", .dedicatedThreads, .timeLimit(.minutes(2)))
struct MetricsServerTests {
    /// A metrics server on a free loopback port.
    final class Served: Sendable {
        let port: Int
        let metrics = RuntimeMetrics()
        fileprivate let group: ServiceGroup

        init(limits: MetricsServer.Limits) throws {
            port = try freeLoopbackPort()
            let health = HealthState()
            health.set(.ok)
            let logger = Logger(label: "metrics-test", factory: { _ in SwiftLogNoOpLogHandler() })
            let server = MetricsServer(address: "127.0.0.1:\(port)", metrics: metrics, health: health, limits: limits, logger: logger)
            group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        }

        /// `tidemark_http_connections_open`.
        var open: Int {
            Int(metricValue("tidemark_http_connections_open", in: String(decoding: metrics.exposition(), as: UTF8.self)) ?? -1)
        }

        /// `tidemark_http_connections_closed_total{reason=…}`, 0 while absent.
        func closed(_ reason: String) -> Int {
            let text = String(decoding: metrics.exposition(), as: UTF8.self)
            return Int(metricValue(#"tidemark_http_connections_closed_total{reason="\#(reason)"}"#, in: text) ?? 0)
        }
    }

    /// Runs a metrics server with `limits` while `body` (which blocks) talks to it. The server
    /// runs in a child task, so on this test's own threads, not the shared pool's.
    func serving(_ limits: MetricsServer.Limits, _ body: @Sendable (Served) throws -> Void) async throws {
        let served = try Served(limits: limits)
        try await withThrowingTaskGroup { tasks in
            tasks.addTask { try await served.group.run() }
            do {
                try wait("the server to listen", within: .seconds(10)) { httpGet(port: served.port, path: "/health") != nil }
                try body(served)
            } catch {
                await served.group.triggerGracefulShutdown()
                throw error
            }
            await served.group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func limits(maxConnections: Int = 64, idleTimeout: Duration = .seconds(60)) -> MetricsServer.Limits {
        var limits = MetricsServer.Limits()
        limits.maxConnections = maxConnections
        limits.idleTimeout = idleTimeout
        return limits
    }

    @Test("a connection that sends nothing is closed after the idle timeout, and counted")
    func idleConnectionsAreClosed() async throws {
        try await serving(Self.limits(idleTimeout: .seconds(1))) { served in
            let connection = try LoopbackConnection(port: served.port)
            let start = ContinuousClock.now
            #expect(connection.isClosedByServer(within: .seconds(10)))
            #expect(ContinuousClock.now - start >= .milliseconds(900))
            // A connection in use is not idle: a request now and then keeps it.
            let used = try LoopbackConnection(port: served.port)
            for _ in 0..<4 {
                #expect(used.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
                let answer = used.readUntilClosed(within: .milliseconds(300))
                #expect(!answer.closed)
                #expect(String(decoding: answer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            }
            #expect(used.isClosedByServer(within: .seconds(10)))
            #expect(served.closed("idle") == 2)
        }
    }

    @Test("garbage is answered 400 with Connection: close, and the connection closed")
    func garbageIsRefusedAndClosed() async throws {
        try await serving(Self.limits()) { served in
            let connection = try LoopbackConnection(port: served.port)
            connection.send("\u{16}\u{03}\u{01} hello, not HTTP\r\n\r\n")
            let answer = connection.readUntilClosed(within: .seconds(5))
            let text = String(decoding: answer.bytes, as: UTF8.self)
            #expect(answer.closed, "still open after: \(text)")
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
            #expect(text.lowercased().contains("connection: close"), "\(text)")
            #expect(served.closed("bad_request") == 1)
        }
    }

    @Test("a request head over 8 KiB is answered 431, a body over 4 KiB 413, an unknown path 404, each closing the connection")
    func oversizedAndUnknownRequestsAreClosed() async throws {
        try await serving(Self.limits()) { served in
            let cases: [(request: String, status: String)] = [
                ("GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: \(String(repeating: "a", count: 9000))\r\n\r\n", "431"),
                ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n", "431"),
                ("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "b", count: 20000), "413"),
                ("POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + String(repeating: "1000\r\n\(String(repeating: "c", count: 4096))\r\n", count: 3), "413"),
                ("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", "404"),
            ]
            for (request, status) in cases {
                let connection = try LoopbackConnection(port: served.port)
                connection.send(request)
                let answer = connection.readUntilClosed(within: .seconds(5))
                let text = String(decoding: answer.bytes, as: UTF8.self)
                #expect(answer.closed, "\(status): still open after \(text.prefix(200))")
                #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(text.prefix(200))")
                #expect(text.lowercased().contains("connection: close"), "\(text.prefix(200))")
            }
            #expect(served.closed("too_large") == 4)
            // A good request on a kept-alive connection still stays open.
            let kept = try LoopbackConnection(port: served.port)
            kept.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = kept.readUntilClosed(within: .seconds(2))
            #expect(!answer.closed)
            #expect(String(decoding: answer.bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        }
    }

    @Test("past the cap, a new connection takes the place of the one idle (or stalled halfway through a request) longest: /health answers at once and the server never holds more than the cap")
    func theCapClosesTheLongestIdle() async throws {
        try await serving(Self.limits(maxConnections: 8)) { served in
            var idle: [LoopbackConnection] = []
            for index in 0..<20 {
                idle.append(try LoopbackConnection(port: served.port))
                // A client stalled halfway through a request is no busier than an idle one.
                if index < 4 { idle[index].send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab") }
                // One at a time, so "idle longest" is the order they were opened in.
                try wait("the server to take connection \(idle.count) in", within: .seconds(5)) {
                    served.closed("limit") == max(0, idle.count - 8) && served.open == min(idle.count, 8)
                }
            }
            let start = ContinuousClock.now
            let health = httpGet(port: served.port, path: "/health")
            #expect(health?.status == 200)
            #expect(ContinuousClock.now - start < .seconds(2))
            // The 12 opened first made room for the later ones, and the last 7 for /health's own.
            let closed = idle.map { $0.isClosedByServer(within: .milliseconds(200)) }
            #expect(closed == Array(repeating: true, count: 13) + Array(repeating: false, count: 7), "\(closed)")
            #expect(served.closed("limit") == 13)
            #expect(served.open <= 8)
        }
    }
}

/// Waits until `condition` holds, checking every 20 ms; throws at the deadline.
private func wait(_ what: String, within limit: Duration, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + limit
    while try !condition() {
        if ContinuousClock.now > deadline { throw WaitTimedOut(description: "timed out after \(limit) waiting for \(what)") }
        usleep(20_000)
    }
}

private struct WaitTimedOut: Error, CustomStringConvertible {
    var description: String
}
