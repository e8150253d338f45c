// A minimal HTTP/1.1 endpoint for Prometheus scrapes (`/metrics`) and health checks
// (`/health`). Plain sockets on one thread: a scrape every few seconds needs no event loop.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Serves `/metrics` and `/health` on one address until stopped.
public final class MetricsEndpoint: Sendable {
    /// What a health check reports.
    public struct Health: Sendable {
        public var healthy: Bool
        public var detail: String
        public init(healthy: Bool, detail: String) {
            self.healthy = healthy
            self.detail = detail
        }
    }

    public let port: Int
    private let socket: Int32

    /// Binds `address` (`HOST:PORT`, IPv4; port 0 picks a free one) and starts serving.
    public init(
        address: String,
        metrics: @escaping @Sendable () -> String,
        health: @escaping @Sendable () -> Health
    ) throws {
        let (host, requestedPort) = try Self.parse(address)
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsEndpointError(address: address, reason: String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(requestedPort).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw MetricsEndpointError(address: address, reason: "not an IPv4 address: \(host)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MetricsEndpointError(address: address, reason: reason)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.socket = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        let thread = Thread { Self.serve(fd, metrics: metrics, health: health) }
        thread.name = "tidemark-metrics"
        thread.start()
    }

    /// Stops accepting connections.
    public func stop() {
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
    }

    private static func parse(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw MetricsEndpointError(address: address, reason: "expected HOST:PORT") }
        return (String(address[..<colon]), port)
    }

    private static func serve(
        _ listener: Int32, metrics: @Sendable () -> String, health: @Sendable () -> Health
    ) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return  // the listener was closed
            }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            respond(on: connection, metrics: metrics, health: health)
            close(connection)
        }
    }

    private static func respond(on connection: Int32, metrics: () -> String, health: () -> Health) {
        var request = [UInt8](repeating: 0, count: 4096)
        let count = read(connection, &request, request.count)
        guard count > 0 else { return }
        let line = String(decoding: request[..<count], as: UTF8.self).prefix { $0 != "\r" && $0 != "\n" }
        let parts = line.split(separator: " ")
        let path = parts.count >= 2 ? parts[1].split(separator: "?").first.map(String.init) ?? "" : ""
        let (status, type, body): (String, String, String)
        switch (parts.first, path) {
        case ("GET", "/metrics"):
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4", metrics())
        case ("GET", "/health"):
            let state = health()
            (status, type, body) = (
                state.healthy ? "200 OK" : "503 Service Unavailable", "application/json",
                #"{"status":"\#(state.healthy ? "ok" : "unhealthy")","detail":"\#(state.detail)"}"# + "\n"
            )
        default:
            (status, type, body) = ("404 Not Found", "text/plain", "try /metrics or /health\n")
        }
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        var bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(connection, $0.baseAddress! + sent, $0.count - sent) }
            if n <= 0 { return }
            sent += n
        }
    }
}

/// The metrics address could not be served.
public struct MetricsEndpointError: Error, CustomStringConvertible {
    public var address: String
    public var reason: String
    public var description: String { "cannot serve metrics on \(address): \(reason)" }
}
