// A fixed loopback port in front of the embedded broker, whose own ports are random
// (librdkafka 2.0.2's mock cluster cannot be told a port). Clients bootstrap through the
// fixed port; the metadata they get back names the broker's real address, so only the
// bootstrap connection is forwarded.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Forwards TCP connections from `127.0.0.1:port` to one target address.
public final class BootstrapForwarder: Sendable {
    /// The port clients connect to.
    public let port: Int
    private let listener: Int32

    /// Listens on `127.0.0.1:port` and forwards each connection to `target` (`HOST:PORT`).
    public init(port: Int, target: String) throws(KafkaError) {
        guard let colon = target.lastIndex(of: ":"), let targetPort = UInt16(target[target.index(after: colon)...]) else {
            throw KafkaError(code: KafkaError.invalidArgument, message: "bad forwarding target '\(target)'")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: UInt16(clamping: port))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw KafkaError(code: KafkaError.invalidArgument, message: "cannot listen on 127.0.0.1:\(port): \(reason)")
        }
        self.port = port
        self.listener = fd
        let thread = Thread { Self.accept(on: fd, targetPort: targetPort) }
        thread.name = "tidemark-forwarder"
        thread.start()
    }

    /// Stops accepting; forwarded connections end when either side closes.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(port.bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        return address
    }

    private static func accept(on listener: Int32, targetPort: UInt16) {
        while true {
            let client = Glibc.accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(upstream)
                close(client)
                continue
            }
            // Each direction copies until its source closes, then half-closes its sink;
            // the second to finish closes both sockets.
            let finished = Atomic<Int>(0)
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread {
                    pump(from: from, to: to)
                    shutdown(to, Int32(SHUT_WR))
                    if finished.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                        close(client)
                        close(upstream)
                    }
                }.start()
            }
        }
    }

    private static func pump(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            var sent = 0
            while sent < count {
                let n = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
        }
    }
}
