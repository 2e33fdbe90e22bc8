import Foundation
import Synchronization
import Testing
import ZeroMQ

@Suite(.serialized) struct MessagingTests {
    @Test(arguments: ["inproc://req-router", "tcp://127.0.0.1:*"])
    func reqAndRouterExchangeMultipartMessages(endpoint: String) throws {
        let context = try ZMQContext()
        let router = try makeSocket(context, .router)
        let address = try bindAndResolve(router, endpoint)
        let req = try makeSocket(context, .req)
        try req.connect(address)

        try req.send([bytes("first"), [], bytes("third")])
        let request = try router.receive()
        // ROUTER prepends the peer's routing id; REQ adds the empty delimiter.
        #expect(request.count == 5)
        #expect(request[1] == [])
        #expect(Array(request[2...]) == [bytes("first"), [], bytes("third")])

        try router.send([request[0], [], bytes("reply"), bytes("two")])
        #expect(try req.receive() == [bytes("reply"), bytes("two")])
    }

    @Test(arguments: ["inproc://dealer-router", "tcp://127.0.0.1:*"])
    func dealerAndRouterExchangeMultipartMessages(endpoint: String) throws {
        let context = try ZMQContext()
        let router = try makeSocket(context, .router)
        let address = try bindAndResolve(router, endpoint)
        let dealer = try makeSocket(context, .dealer)
        try dealer.set(.routingId, bytes("dealer-1"))
        try dealer.connect(address)

        try dealer.send([[], bytes("a"), bytes("b")])
        #expect(try router.receive() == [bytes("dealer-1"), [], bytes("a"), bytes("b")])
        try router.send([bytes("dealer-1"), [], bytes("c")])
        #expect(try dealer.receive() == [[], bytes("c")])
        #expect(try dealer.get(.routingId) == bytes("dealer-1"))
    }

    @Test func aFourMegabyteMessageArrivesWhole() throws {
        let context = try ZMQContext()
        let pull = try makeSocket(context, .pull)
        let address = try bindAndResolve(pull, "tcp://127.0.0.1:*")
        let push = try makeSocket(context, .push)
        try push.connect(address)

        // A pattern that does not repeat at any small period, so a misplaced chunk would show.
        let large = (0..<4 << 20).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 11) }
        try push.send([bytes("header"), large])
        let received = try pull.receive()
        #expect(received.count == 2)
        #expect(received[0] == bytes("header"))
        #expect(received[1].count == large.count)
        #expect(received[1] == large)
    }

    @Test func maxMessageSizeCutsOffTheOversizedSenderOnly() throws {
        let context = try ZMQContext()
        let router = try makeSocket(context, .router)
        try router.set(.maxMessageSize, 1024)
        #expect(try router.get(.maxMessageSize) == 1024)
        let monitor = try ZMQSocketMonitor(router, events: [.handshakeSucceeded, .disconnected])
        let address = try bindAndResolve(router, "tcp://127.0.0.1:*")

        let oversized = try makeSocket(context, .dealer)
        try oversized.connect(address)
        #expect(try monitor.wait(for: .handshakeSucceeded, timeoutMilliseconds: 5000) != nil)
        try oversized.send([[UInt8](repeating: 7, count: 2048)])
        #expect(try monitor.wait(for: .disconnected, timeoutMilliseconds: 5000) != nil)

        let polite = try makeSocket(context, .dealer)
        try polite.connect(address)
        try polite.send([bytes("small")])
        let request = try router.receive()
        #expect(request.dropFirst() == [bytes("small")])
        try router.send([request[0], bytes("pong")])
        #expect(try polite.receive() == [bytes("pong")])
        // The oversized frame was never delivered.
        #expect(try router.tryReceive() == nil)
    }

    @Test func routerMandatoryReportsAnUnknownPeer() throws {
        let context = try ZMQContext()
        let router = try makeSocket(context, .router)
        try router.set(.routerMandatory, true)
        _ = try bindAndResolve(router, "inproc://mandatory")
        #expect(throws: ZMQError.failed(function: "zmq_msg_send", errno: EHOSTUNREACH)) {
            try router.send([bytes("nobody"), bytes("hello")])
        }
        #expect(throws: ZMQError.failed(function: "zmq_msg_send", errno: EHOSTUNREACH)) {
            _ = try router.trySend([bytes("nobody"), bytes("hello")])
        }
    }

    @Test func nonBlockingCallsReturnNilOrFalseInsteadOfWaiting() throws {
        let context = try ZMQContext()
        let dealer = try makeSocket(context, .dealer)
        try dealer.set(.sendHighWaterMark, 1)
        #expect(try dealer.get(.sendHighWaterMark) == 1)
        #expect(try dealer.tryReceive() == nil)
        // No peer: a DEALER has nowhere to queue a message.
        #expect(try dealer.trySend([bytes("x")]) == false)
    }

    @Test func pollTimesOutAndReportsReadableSockets() throws {
        let context = try ZMQContext()
        let pull = try makeSocket(context, .pull)
        let quiet = try makeSocket(context, .pull)
        let address = try bindAndResolve(pull, "inproc://poll")
        _ = try bindAndResolve(quiet, "inproc://poll-quiet")

        let start = ContinuousClock.now
        #expect(try poll([(pull, .readable), (quiet, .readable)], timeoutMilliseconds: 100) == [[], []])
        #expect(ContinuousClock.now - start >= .milliseconds(90))

        let push = try makeSocket(context, .push)
        try push.connect(address)
        try push.send([bytes("ready")])
        #expect(try poll([(pull, .readable), (quiet, .readable)], timeoutMilliseconds: 5000) == [.readable, []])
        #expect(try pull.receive() == [bytes("ready")])
    }

    @Test func shutdownUnblocksABlockedReceive() throws {
        let context = try ZMQContext()
        let outcome = Mutex<ZMQError?>(nil)
        let bound = DispatchSemaphore(value: 0)
        let finished = onThread {
            do {
                let pull = try ZMQSocket(context: context, type: .pull)  // no receive timeout: blocks
                try pull.bind("inproc://blocked")
                bound.signal()
                _ = try pull.receive()
            } catch {
                outcome.withLock { $0 = error as? ZMQError }
            }
        }
        bound.wait()
        context.shutdown()
        #expect(finished.wait(timeout: .now() + 5) == .success)
        #expect(outcome.withLock { $0 } == .terminated)
    }

    @Test func receiveTimeoutAndBadEndpointsGiveNamedErrors() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.set(.receiveTimeout, 10)
        #expect(try pull.get(.receiveTimeout) == 10)
        #expect(throws: ZMQError.timedOut(function: "zmq_msg_recv")) { try pull.receive() }

        let error = #expect(throws: ZMQError.self) { try pull.bind("tcp://no-such-interface-here:1") }
        #expect(error?.description.hasPrefix("zmq_bind(tcp://no-such-interface-here:1) failed: ") == true)
        #expect(error?.description.contains("(errno ") == true)
    }

    @Test func optionsReadBackWhatWasSet() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .dealer)
        #expect(try socket.get(.linger) == 0)  // the context is not "blocky"
        try socket.set(.linger, 250)
        try socket.set(.receiveHighWaterMark, 17)
        try socket.set(.immediate, true)
        try socket.set(.heartbeatInterval, 1000)
        try socket.set(.heartbeatTimeout, 3000)
        try socket.set(.heartbeatTTL, 4000)
        try socket.set(.zapDomain, "regionspot")
        try socket.set(.zapEnforceDomain, true)
        #expect(try socket.get(.linger) == 250)
        #expect(try socket.get(.receiveHighWaterMark) == 17)
        #expect(try socket.get(.immediate) == true)
        #expect(try socket.get(.heartbeatInterval) == 1000)
        #expect(try socket.get(.heartbeatTimeout) == 3000)
        #expect(try socket.get(.zapDomain) == "regionspot")
        #expect(try socket.get(.zapEnforceDomain) == true)
    }
}
