import DockerPlugin
import NetCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// Asks dockerd (its API on a unix socket) for the names the plugin protocol leaves out: the
/// network's and its containers' (`GET /networks/ID`), so `netctl network ls` and `port ls`
/// show Docker's names. Asked a moment after the call that made the network or joined the
/// endpoint (dockerd answers its API only once that call has returned), and once at start.
final class EngineNames: Sendable {
    let group: any EventLoopGroup
    let socketPath: String
    let dispatcher: PluginDispatcher
    let log: Log

    /// After a call, the names are asked for at these delays (a container's name is in the
    /// network's listing only once it has started).
    static let delays: [TimeAmount] = [.milliseconds(500), .seconds(3), .seconds(15)]

    init(group: any EventLoopGroup, socketPath: String, dispatcher: PluginDispatcher, log: Log) {
        self.group = group
        self.socketPath = socketPath
        self.dispatcher = dispatcher
        self.log = log
    }

    func refresh(networkID: String) {
        for delay in Self.delays {
            group.next().scheduleTask(in: delay) { self.fetch(networkID) }
        }
    }

    private func fetch(_ networkID: String) {
        let promise = group.next().makePromise(of: (HTTPResponseStatus, [UInt8]).self)
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/networks/\(networkID)",
                                      headers: ["Host": "docker", "Connection": "close"])
        ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(unixDomainSocketPath: socketPath)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    channel.write(HTTPClientRequestPart.head(request), promise: nil)
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                case .failure(let error):
                    promise.fail(error)
                }
            }
        promise.futureResult.whenComplete { result in
            switch result {
            case .success(let (status, body)) where status == .ok:
                self.record(networkID, body)
            case .success(let (status, _)):
                self.log.debug("dockerd answered \(status.code) for network \(networkID.prefix(12))")
            case .failure(let error):
                self.log.debug("cannot ask dockerd at \(self.socketPath) for the names of network \(networkID.prefix(12)): \(error)")
            }
        }
    }

    private func record(_ networkID: String, _ body: [UInt8]) {
        guard let network = try? JSON(parsing: body) else { return }
        var containers: [String: String] = [:]
        for (_, container) in network["Containers"]?.objectValue ?? JSONObject() {
            guard let endpoint = container["EndpointID"]?.stringValue, let name = container["Name"]?.stringValue else { continue }
            containers[endpoint] = name
        }
        let name = network["Name"]?.stringValue
        let named = containers
        dispatcher.withHandler { handler in handler.recordNames(networkID: networkID, name: name, containers: named) }
    }
}

/// Collects one HTTP response and closes the connection.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<(HTTPResponseStatus, [UInt8])>
    private var status = HTTPResponseStatus.ok
    private var body: [UInt8] = []
    private var answered = false

    init(promise: EventLoopPromise<(HTTPResponseStatus, [UInt8])>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = head.status
        case .body(var buffer): body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            answer(.success((status, body)))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer(.failure(ChannelError.eof))
    }

    /// A promise is completed once: the first outcome counts.
    private func answer(_ result: Result<(HTTPResponseStatus, [UInt8]), any Error>) {
        guard !answered else { return }
        answered = true
        promise.completeWith(result)
    }
}
