// `tidemark run --metrics` under clients that misbehave: many idle connections and garbage
// must not keep /health from answering nor hold the process's descriptors.
import EmbeddedKafka
import Foundation
import Testing
import TidemarkTestSupport

extension TidemarkCommandLine {
    @Suite("metrics server limits")
    struct MetricsServerLimits {
        @Test("200 idle connections: /health still answers, the server closes all past its cap of 64 at once; garbage is answered 400 and closed")
        func idleConnectionsAndGarbageCannotStarveHealth() throws {
            let scratch = try ScratchDirectory("metrics-limits")
            defer { scratch.remove() }
            try scratch.write("apps/e2e.yaml", endToEndApp)
            let broker = try endToEndBroker()
            defer { broker.stop() }
            let service = try RunningService(broker: broker, apps: scratch.path("apps"), group: "g")
            defer { service.tool.kill() }
            try waitUntil("/health to answer; stderr: \(service.tool.stderr.text.suffix(2000))", within: .seconds(30)) {
                guard service.tool.isRunning else { throw TestFailure(description: "tidemark run exited: \(service.tool.stderr.text.suffix(2000))") }
                return service.health != nil
            }

            let idle = try (0..<200).map { _ in try LoopbackConnection(port: service.metricsPort) }
            // Each httpGet waits at most 2 s; the idle timeout (10 s) is far away.
            try waitUntil("/health to answer with 200 idle connections open", within: .seconds(5)) {
                httpGet(port: service.metricsPort, path: "/health")?.status == 200
            }
            var closed = Set<Int>()
            try waitUntil("the server to close all but 64 of 200 idle connections, closed \(closed.count)", within: .seconds(5)) {
                for (index, connection) in idle.enumerated() where !closed.contains(index) {
                    if connection.isClosedByServer(within: .zero) { closed.insert(index) }
                }
                return closed.count >= 200 - 64
            }
            let open = service.sample("tidemark_http_connections_open").flatMap(Double.init) ?? .nan
            #expect(open <= 64, "the server holds \(open) connections")
            let refused = service.sample(#"tidemark_http_connections_closed_total{reason="limit"}"#).flatMap(Double.init) ?? 0
            #expect(refused >= 200 - 64, "\(refused) counted as closed at the cap")

            let garbage = try LoopbackConnection(port: service.metricsPort)
            garbage.send("\u{16}\u{03}\u{01} not HTTP at all\r\n\r\n")
            let answer = garbage.readUntilClosed(within: .seconds(5))
            let text = String(decoding: answer.bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
            #expect(answer.closed, "the connection stays open after \(text)")

            #expect(try service.stop() == 0, "\(service.tool.stderr.text.suffix(2000))")
        }
    }
}
