import Foundation
import Synchronization

/// A ZeroMQ authentication handler (ZAP, RFC 27) that lets in CURVE clients whose public key is
/// in an allow list, which can be replaced while it runs (to reload key files on SIGHUP).
///
/// libzmq asks the handler about every handshake on a socket with a ZAP domain. Servers should
/// set `.zapDomain` to this handler's domain and `.zapEnforceDomain`, so that connections are
/// refused rather than let in when no handler answers. Requests for another domain, or for a
/// mechanism other than CURVE, are refused. The handler runs on its own thread, bound to
/// `inproc://zeromq.zap.01` of its context; there can be one per context.
public final class ZAPHandler: Sendable {
    /// What the handler answered to one handshake, for logging.
    public struct Decision: Sendable {
        public let domain: String
        /// The client's address as libzmq reports it ("127.0.0.1").
        public let address: String
        public let mechanism: String
        /// The client's public key, for CURVE handshakes.
        public let clientKey: CurveKey?
        /// "200" accepted, "400" refused, "500" malformed request.
        public let statusCode: String
        public var accepted: Bool { statusCode == "200" }
    }

    public static let endpoint = "inproc://zeromq.zap.01"

    private let state: State
    private let thread: HandlerThread

    /// Binds the ZAP endpoint and starts answering; throws if that fails (another handler is bound).
    /// - Parameter onDecision: called on the handler's thread after each answer.
    public init(context: ZMQContext, domain: String, allowedClientKeys: Set<CurveKey>,
                onDecision: (@Sendable (Decision) -> Void)? = nil) throws {
        state = State(domain: domain, allowedClientKeys: allowedClientKeys, onDecision: onDecision)
        thread = try HandlerThread(context: context, state: state)
    }

    /// The public keys let in; setting it affects handshakes from then on.
    public var allowedClientKeys: Set<CurveKey> {
        get { state.allowedClientKeys.withLock { $0 } }
        set { state.allowedClientKeys.withLock { $0 = newValue } }
    }

    /// Stops answering and waits for the thread to end. Handshakes after this fail, as no handler answers.
    public func stop() {
        thread.stop()
    }

    deinit {
        thread.stop()
    }
}

extension ZAPHandler {
    /// What the handler thread and its owner share.
    fileprivate final class State: Sendable {
        let domain: String
        let allowedClientKeys: Mutex<Set<CurveKey>>
        let onDecision: (@Sendable (Decision) -> Void)?

        init(domain: String, allowedClientKeys: Set<CurveKey>, onDecision: (@Sendable (Decision) -> Void)?) {
            self.domain = domain
            self.allowedClientKeys = Mutex(allowedClientKeys)
            self.onDecision = onDecision
        }

        /// The reply frames for one request: version, request id, status code and text, user id, metadata.
        func answer(_ request: [[UInt8]]) -> [[UInt8]] {
            // version, request id, domain, address, routing id, mechanism, credentials…
            guard request.count >= 6, request[0] == Array("1.0".utf8) else {
                return reply(to: request.count > 1 ? request[1] : [], code: "500", text: "malformed ZAP request")
            }
            let text = { (frame: [UInt8]) in String(decoding: frame, as: UTF8.self) }
            let domain = text(request[2]), mechanism = text(request[5])
            let clientKey = mechanism == "CURVE" && request.count == 7 ? try? CurveKey(bytes: request[6]) : nil
            let accepted = domain == self.domain && clientKey.map { key in allowedClientKeys.withLock { $0.contains(key) } } == true
            let code = accepted ? "200" : "400"
            onDecision?(Decision(domain: domain, address: text(request[3]), mechanism: mechanism, clientKey: clientKey, statusCode: code))
            return reply(to: request[1], code: code, text: accepted ? "OK" : "client key not allowed",
                         userId: accepted ? clientKey!.z85 : "")
        }

        private func reply(to requestId: [UInt8], code: String, text: String, userId: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestId, Array(code.utf8), Array(text.utf8), Array(userId.utf8), []]
        }
    }

    /// The thread that owns the ZAP socket, and a control socket through which `stop()` ends it.
    fileprivate final class HandlerThread: Sendable {
        private let context: ZMQContext
        private let controlEndpoint = "inproc://regionspot.zap-handler.control.\(UUID().uuidString)"
        private let finished = DispatchSemaphore(value: 0)
        private let stopped = Mutex(false)

        init(context: ZMQContext, state: State) throws {
            self.context = context
            let started = DispatchSemaphore(value: 0)
            let startError = Mutex<ZMQError?>(nil)
            let controlEndpoint = controlEndpoint, finished = finished
            let thread = Thread {
                Self.run(context: context, state: state, controlEndpoint: controlEndpoint, started: started, startError: startError)
                finished.signal()
            }
            thread.name = "ZAP handler"
            thread.start()
            started.wait()
            if let error = startError.withLock({ $0 }) {
                stopped.withLock { $0 = true }
                finished.wait()
                throw error
            }
        }

        /// The thread's body; its sockets are closed when it returns.
        private static func run(context: ZMQContext, state: State, controlEndpoint: String,
                                started: DispatchSemaphore, startError: borrowing Mutex<ZMQError?>) {
            let zap: ZMQSocket, control: ZMQSocket
            do {
                zap = try ZMQSocket(context: context, type: .rep)
                try zap.bind(ZAPHandler.endpoint)
                control = try ZMQSocket(context: context, type: .pull)
                try control.bind(controlEndpoint)
            } catch {
                startError.withLock { $0 = error as? ZMQError }
                started.signal()
                return
            }
            started.signal()
            // Any failure ends the loop; libzmq then refuses the handshakes nobody answers.
            while let ready = try? poll([(zap, .readable), (control, .readable)], timeoutMilliseconds: -1),
                  !ready[1].contains(.readable) {
                guard ready[0].contains(.readable), let request = try? zap.receive() else { continue }
                guard (try? zap.send(state.answer(request))) != nil else { break }
            }
        }

        func stop() {
            guard stopped.withLock({ let was = $0; $0 = true; return !was }) else { return }
            if let control = try? ZMQSocket(context: context, type: .push),
               (try? control.connect(controlEndpoint)) != nil {
                try? control.set(.linger, -1)  // the stop message must arrive before this socket closes
                try? control.send([[]])
            }
            finished.wait()
        }
    }
}
