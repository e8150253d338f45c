// A fixed loopback port in front of the embedded broker, whose own ports are random
// (librdkafka 2.0.2's mock cluster cannot be told a port). Clients bootstrap through the
// fixed port; the metadata they get back names the broker's real address, so only the
// bootstrap connection is forwarded.
import Kafka
import NIOCore
import NIOPosix

/// Forwards TCP connections from `127.0.0.1:port` to one target address.
package final class BootstrapForwarder: Sendable {
    /// The port clients connect to.
    package let port: Int
    private let listener: any Channel

    /// Listens on `127.0.0.1:port` and forwards each connection to `target` (`HOST:PORT`).
    package init(port: Int, target: String) throws(KafkaError) {
        guard let colon = target.lastIndex(of: ":"), let targetPort = Int(target[target.index(after: colon)...]) else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "bad forwarding target '\(target)'")
        }
        let targetHost = String(target[..<colon])
        let group = MultiThreadedEventLoopGroup.singleton
        do {
            listener = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // The client's channel becomes active (and reads) once this future completes,
                // that is once the upstream connection is there to write to.
                .childChannelInitializer { client in
                    ClientBootstrap(group: client.eventLoop)
                        .connect(host: targetHost, port: targetPort)
                        .flatMap { upstream in
                            let (toUpstream, toClient) = Splice.pair(client, upstream)
                            return client.pipeline.addHandler(toUpstream).flatMap {
                                upstream.pipeline.addHandler(toClient)
                            }
                        }
                        .flatMapErrorThrowing { error in
                            client.close(promise: nil)
                            throw error
                        }
                }
                .bind(host: "127.0.0.1", port: port).wait()
        } catch {
            throw KafkaError(code: KafkaError.invalidArgument, message: "cannot listen on 127.0.0.1:\(port): \(error)")
        }
        self.port = port
    }

    /// Stops accepting; forwarded connections end when either side closes.
    package func stop() {
        listener.close(promise: nil)
    }
}

/// One direction of a forwarded connection: what its channel reads is written to the peer;
/// when either side closes, both do.
private final class Splice: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var peer: Splice?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    /// A handler for each of two connected channels, each writing to the other.
    static func pair(_ a: any Channel, _ b: any Channel) -> (Splice, Splice) {
        let first = Splice(), second = Splice()
        first.peer = second
        second.peer = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        peer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer?.forward(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) { peer?.flushForwarded() }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    /// Back pressure: the peer reads again only once this side can take more.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { peer?.readIfPending() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if peer?.context?.channel.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func forward(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flushForwarded() { context?.flush() }

    private func readIfPending() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
