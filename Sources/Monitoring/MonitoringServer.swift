import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// The daemon's HTTP side for operators: `/metrics` (every swift-metrics metric of the process, in
/// Prometheus' text format), `/healthz` (200 while the process answers) and `/readyz` (200 when
/// `readiness` says so, else 503 with its reason).
///
/// swift-nio's HTTP/1 server on one event-loop thread of its own: scrapes never wait for the
/// broker's loop, which publishes what `readiness` reads.
public final class MonitoringServer: Sendable {
    /// What `/readyz` answers: ready, or a short reason why not.
    public typealias Readiness = @Sendable () -> (ready: Bool, reason: String)

    /// The address bound, with the real port when 0 was asked for ("127.0.0.1:9100").
    public let address: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds `bind` ("HOST:PORT"; port 0 picks a free one) and starts answering.
    public init(bind: String, registry: PrometheusCollectorRegistry, readiness: @escaping Readiness) throws {
        let (host, port) = try Self.parse(bind)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(MonitoringHandler(registry: registry, readiness: readiness))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw MonitoringError("--metrics-bind \(bind): cannot bind: \(error)")
        }
        self.group = group
        address = "\(host):\(channel.localAddress?.port ?? port)"
    }

    /// Closes the listening socket and ends the event loop's thread.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// "HOST:PORT" with a numeric port; throws naming the option otherwise.
    public static func parse(_ bind: String) throws -> (host: String, port: Int) {
        guard let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]), (0...65535).contains(port),
              colon != bind.startIndex else {
            throw MonitoringError("--metrics-bind: expected HOST:PORT (127.0.0.1:9100), got '\(bind)'")
        }
        let host = bind[..<colon]
        // "[::1]:9100": the brackets only delimit the address.
        return (host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : String(host), port)
    }
}

public struct MonitoringError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP connection: answers each request once its head and body have arrived.
private final class MonitoringHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    let readiness: MonitoringServer.Readiness
    var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, readiness: @escaping MonitoringServer.Readiness) {
        self.registry = registry
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (status, contentType, body) = answer(head)
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)")])
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        let text = "text/plain; charset=utf-8"
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, text, Array("only GET and HEAD\n".utf8))
        }
        switch head.uri.split(separator: "?", maxSplits: 1).first ?? "" {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case "/healthz":
            return (.ok, text, Array("alive\n".utf8))
        case "/readyz":
            let (ready, reason) = readiness()
            return ready ? (.ok, text, Array("ready\n".utf8)) : (.serviceUnavailable, text, Array("not ready: \(reason)\n".utf8))
        default:
            return (.notFound, text, Array("no such path: \(head.uri) (try /metrics, /healthz, /readyz)\n".utf8))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
