import DockerPlugin
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection from dockerd: each `POST /Interface.Method` with its JSON body
/// goes to the dispatcher, and its answer back in order (HTTP/1.1 answers in request order,
/// and NIO's server pipeline holds pipelined requests until the answer before has gone).
final class HTTPPluginHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// dockerd's largest bodies are a few KiB; anything this big is not dockerd.
    static let bodyLimit = 1 << 20

    private let dispatcher: PluginDispatcher
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(dispatcher: PluginDispatcher) {
        self.dispatcher = dispatcher
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(var buffer):
            guard !tooLarge else { return }
            if body.count + buffer.readableBytes > Self.bodyLimit {
                tooLarge = true
                body = []
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        if tooLarge {
            return write(PluginResponse(status: 413, body: #"{"Err":"request body larger than 1 MiB"}"#), head: head, keepAlive: false, context: context)
        }
        guard head.method == .POST else {
            return write(PluginResponse(status: 405, body: #"{"Err":"plugin calls are POST /Interface.Method"}"#), head: head,
                         keepAlive: keepAlive, context: context)
        }
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let promise = context.eventLoop.makePromise(of: PluginResponse.self)
        dispatcher.dispatch(path: path, body: body, promise: promise)
        promise.futureResult.assumeIsolated().whenSuccess { response in
            self.write(response, head: head, keepAlive: keepAlive, context: context)
        }
    }

    private func write(_ response: PluginResponse, head: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        // What Docker's plugin helpers answer; dockerd does not check it.
        headers.add(name: "Content-Type", value: "application/vnd.docker.plugins.v1.2+json")
        headers.add(name: "Content-Length", value: String(response.body.utf8.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
