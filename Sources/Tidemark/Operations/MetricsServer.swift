// `/metrics` (Prometheus) and `/health` over HTTP/1.1, on SwiftNIO. A scrape every few seconds
// needs little, but a server that must never wedge the process (slow or garbage clients, many
// connections) is better left to a well-kept event loop than to hand-written sockets.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves `/metrics` and `/health` on one address until graceful shutdown.
package final class MetricsServer: Service {
    package let address: String
    private let metrics: RuntimeMetrics
    private let health: HealthState
    private let logger: Logger

    /// - Parameter address: `HOST:PORT`; port 0 picks a free one.
    package init(address: String, metrics: RuntimeMetrics, health: HealthState, logger: Logger) {
        self.address = address
        self.metrics = metrics
        self.health = health
        self.logger = logger
    }

    package func run() async throws {
        let channel = try await bind()
        logger.info("metrics", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? address)"])
        if !Self.isLoopback(host: String(address[..<(address.lastIndex(of: ":") ?? address.endIndex)])) {
            logger.warning(
                "/metrics and /health are served beyond loopback: anyone who reaches this address can read them",
                metadata: ["address": "\(address)"])
        }
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }

    /// Binds the listening socket; a bad or busy address is an error naming it.
    private func bind() async throws -> any Channel {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw MetricsServerError(address: address, reason: "expected HOST:PORT") }
        let host = String(address[..<colon])
        let metrics = self.metrics, health = self.health
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(EndpointHandler(metrics: metrics, health: health))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw MetricsServerError(address: address, reason: "\(error)")
        }
    }
}

extension MetricsServer {
    /// Whether `host` only accepts connections from this machine.
    static func isLoopback(host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }
}

/// The metrics address could not be served.
package struct MetricsServerError: Error, CustomStringConvertible {
    package var address: String
    package var reason: String
    package var description: String { "cannot serve metrics on \(address): \(reason)" }
}

/// Answers each request on one connection.
private final class EndpointHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: RuntimeMetrics
    private let health: HealthState
    private var request: HTTPRequestHead?

    init(metrics: RuntimeMetrics, health: HealthState) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let request else { return }
            self.request = nil
            respond(to: request, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        let status: HTTPResponseStatus
        let contentType: String
        let body: [UInt8]
        switch (request.method, path) {
        case (.GET, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4", metrics.exposition())
        case (.GET, "/health"):
            let report = health.report
            (status, contentType, body) = (report.healthy ? .ok : .serviceUnavailable, "application/json", Array(report.json.utf8))
        default:
            (status, contentType, body) = (.notFound, "text/plain", Array("try /metrics or /health\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let sent = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        if !keepAlive {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            sent.futureResult.whenComplete { _ in context.value.close(promise: nil) }
        }
    }
}
