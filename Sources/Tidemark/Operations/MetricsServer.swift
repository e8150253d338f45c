// `/metrics` (Prometheus) and `/health` over HTTP/1.1, on SwiftNIO. A scrape every few seconds
// needs little, but a server that must never wedge the process (slow or garbage clients, many
// connections) is better left to a well-kept event loop than to hand-written sockets.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Serves `/metrics` and `/health` on one address until graceful shutdown.
package final class MetricsServer: Service {
    /// What the server lets its clients hold, so that no client, however many or slow, can
    /// take the descriptors and memory the Kafka clients and app reloads need.
    package struct Limits: Sendable {
        /// Connections open at once. A Prometheus server or two and a health probe need a
        /// handful; 64 leaves room for many more while holding at most 65 descriptors of a
        /// limit of typically 1,024 to 4,096, the rest of which the Kafka clients (a socket
        /// per broker per client) and app reloads need. A newcomer past the cap takes the
        /// place of the connection idle longest, so idle connections can never lock out a
        /// health check; only when every connection is answering a request is it closed.
        package var maxConnections = 64
        /// A connection that neither sends nor receives for this long is closed (NIO's
        /// `IdleStateHandler`). Longer than a health probe's period of a few seconds, and
        /// short enough that abandoned connections give back their descriptors quickly; a
        /// Prometheus server scraping every 15 s just opens a new connection.
        package var idleTimeout: Duration = .seconds(10)
        /// Bytes of a request line and headers: a GET with a few headers is a few hundred;
        /// 8 KiB is what common servers allow. Past it: 431 and the connection closed.
        package var maxHeadBytes = 8 * 1024
        /// Bytes of a request body. Neither endpoint reads one; a small allowance keeps
        /// clients that send an empty document working. Past it: 413 and the connection closed.
        package var maxBodyBytes = 4 * 1024

        package init() {}
    }

    package let address: String
    private let metrics: RuntimeMetrics
    private let health: HealthState
    private let logger: Logger
    private let limits: Limits

    /// - Parameter address: `HOST:PORT`; port 0 picks a free one.
    package init(address: String, metrics: RuntimeMetrics, health: HealthState, limits: Limits = Limits(), logger: Logger) {
        self.address = address
        self.metrics = metrics
        self.health = health
        self.limits = limits
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
        let metrics = self.metrics, health = self.health, limits = self.limits
        let connections = ConnectionTable(limit: limits.maxConnections, metrics: metrics)
        let decoderLimits = {
            var decoder = NIOHTTPDecoderLimitConfiguration()
            decoder.maxHeaderFieldSize = limits.maxHeadBytes
            decoder.maxHeaderListSize = limits.maxHeadBytes
            return decoder
        }()
        do {
            // One event loop, listener and connections, is plenty for scrapes and probes, and
            // takes connections in in the order they came. ServerBootstrap adds NIO's
            // AcceptBackoffHandler: should the process run out of descriptors anyway,
            // accepting pauses instead of spinning.
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton.next())
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    let admission = connections.admit(channel)
                    if let evicted = admission.evicted {
                        metrics.countHTTPConnectionClosed(.limit)
                        evicted.close(promise: nil)
                    }
                    guard admission.admitted else {
                        // The bootstrap closes the accepted socket.
                        metrics.countHTTPConnectionClosed(.limit)
                        return channel.eventLoop.makeFailedFuture(ConnectionLimitReached())
                    }
                    channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(allTimeout: TimeAmount(limits.idleTimeout)))
                        try sync.addHandler(ConnectionActivity(connections: connections, metrics: metrics))
                        // Parse errors are answered by EndpointHandler, which also closes.
                        try sync.configureHTTPServerPipeline(
                            withErrorHandling: false, withEncoderConfiguration: .init(),
                            withDecoderLimitConfiguration: decoderLimits)
                        try sync.addHandler(
                            EndpointHandler(metrics: metrics, health: health, connections: connections, maxBodyBytes: limits.maxBodyBytes))
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

/// A connection refused because every place is taken by one answering a request.
private struct ConnectionLimitReached: Error {}

/// The server's open connections: how many there are, which is answering a request, and
/// which has been idle longest, to make room for a newcomer at the cap.
private final class ConnectionTable: Sendable {
    private struct Entry {
        var channel: any Channel
        var lastActive: NIODeadline
        /// A request is being answered.
        var busy = false
    }

    private let limit: Int
    private let metrics: RuntimeMetrics
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(limit: Int, metrics: RuntimeMetrics) {
        self.limit = max(1, limit)
        self.metrics = metrics
    }

    /// Takes `channel` in; at the cap, in place of the connection idle longest (returned, for
    /// the caller to close), or not at all when every connection is busy.
    func admit(_ channel: any Channel) -> (admitted: Bool, evicted: (any Channel)?) {
        entries.withLock { entries in
            var evicted: (any Channel)?
            if entries.count >= limit {
                guard let oldest = entries.filter({ !$0.value.busy }).min(by: { $0.value.lastActive < $1.value.lastActive })
                else { return (false, nil) }
                evicted = oldest.value.channel
                entries.removeValue(forKey: oldest.key)
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, lastActive: .now())
            metrics.setHTTPConnectionsOpen(entries.count)
            return (true, evicted)
        }
    }

    /// Notes that `channel` sent or was sent something; `busy` when it changes.
    func touch(_ channel: any Channel, busy: Bool? = nil) {
        entries.withLock { entries in
            entries[ObjectIdentifier(channel)]?.lastActive = .now()
            if let busy { entries[ObjectIdentifier(channel)]?.busy = busy }
        }
    }

    func remove(_ channel: any Channel) {
        entries.withLock { entries in
            guard entries.removeValue(forKey: ObjectIdentifier(channel)) != nil else { return }
            metrics.setHTTPConnectionsOpen(entries.count)
        }
    }
}

/// First in each connection's pipeline: every read is activity, and a connection idle past
/// the timeout is closed.
private final class ConnectionActivity: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connections: ConnectionTable
    private let metrics: RuntimeMetrics

    init(connections: ConnectionTable, metrics: RuntimeMetrics) {
        self.connections = connections
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connections.touch(context.channel)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        metrics.countHTTPConnectionClosed(.idle)
        context.close(promise: nil)
    }
}

/// Answers each request on one connection; after an error response (a parse error, a request
/// over the limits, an unknown path) the connection is closed.
private final class EndpointHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: RuntimeMetrics
    private let health: HealthState
    private let connections: ConnectionTable
    private let maxBodyBytes: Int
    private var request: HTTPRequestHead?
    private var bodyBytes = 0
    /// An error response was sent: what else arrives is dropped until the connection closes.
    private var closing = false

    init(metrics: RuntimeMetrics, health: HealthState, connections: ConnectionTable, maxBodyBytes: Int) {
        self.metrics = metrics
        self.health = health
        self.connections = connections
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBodyBytes {
                refuse(.payloadTooLarge, version: head.version, reason: .tooLarge, context: context)
            }
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > maxBodyBytes {
                refuse(.payloadTooLarge, version: request?.version ?? .http1_1, reason: .tooLarge, context: context)
            }
        case .end:
            guard let request else { return }
            self.request = nil
            // Busy only from a whole request until its answer is sent: a client that stops
            // halfway through a request is as evictable as an idle one.
            connections.touch(context.channel, busy: true)
            respond(to: request, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        guard let parseError = error as? HTTPParserError else {
            // The socket failed (a reset, say): nothing to answer.
            context.close(promise: nil)
            return
        }
        if case .headerOverflow = parseError {
            refuse(.requestHeaderFieldsTooLarge, version: request?.version ?? .http1_1, reason: .tooLarge, context: context)
        } else {
            refuse(.badRequest, version: request?.version ?? .http1_1, reason: .badRequest, context: context)
        }
    }

    /// Answers with an error and closes, whatever else the request holds.
    private func refuse(
        _ status: HTTPResponseStatus, version: HTTPVersion, reason: RuntimeMetrics.HTTPConnectionClose, context: ChannelHandlerContext
    ) {
        metrics.countHTTPConnectionClosed(reason)
        request = nil
        send(status: status, contentType: "text/plain", body: Array("\(status.code) \(status.reasonPhrase)\n".utf8), version: version, keepAlive: false, context: context)
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
        send(status: status, contentType: contentType, body: body, version: request.version, keepAlive: request.isKeepAlive && status.code < 400, context: context)
    }

    /// Writes one response; without keep-alive, says `Connection: close`, stops reading and
    /// closes once it is sent.
    private func send(
        status: HTTPResponseStatus, contentType: String, body: [UInt8], version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
            closing = true
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let sent = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        let connections = self.connections
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        sent.futureResult.whenComplete { _ in
            let context = loopBound.value
            connections.touch(context.channel, busy: false)
            guard !keepAlive else { return }
            // Output first: the client reads the response, then end of file; closing at once
            // with unread request bytes in the socket would reset the connection instead and
            // could lose the response. The idle timeout bounds a client that never closes,
            // and so does this second's grace.
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: .seconds(1)) { loopBound.value.close(promise: nil) }
        }
    }
}
