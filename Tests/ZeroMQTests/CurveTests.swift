import Foundation
import Synchronization
import Testing
import ZeroMQ

/// A DEALER that connects to `address` as a CURVE client with `keys` (plain text without).
private func curveClient(_ context: ZMQContext, _ keys: CurveKeyPair?, serverKey: CurveKey, connectingTo address: String) throws -> ZMQSocket {
    let socket = try makeSocket(context, .dealer)
    if let keys {
        try socket.set(.curveServerKey, serverKey)
        try socket.set(.curvePublicKey, keys.publicKey)
        try socket.set(.curveSecretKey, keys.secretKey)
    }
    try socket.connect(address)
    return socket
}

/// A CURVE server ROUTER, asking the ZAP handler about every client of `domain`.
private func curveServer(_ context: ZMQContext, _ keys: CurveKeyPair, domain: String) throws -> ZMQSocket {
    let server = try makeSocket(context, .router)
    try server.set(.curveServer, true)
    try server.set(.curveSecretKey, keys.secretKey)
    try server.set(.zapDomain, domain)
    try server.set(.zapEnforceDomain, true)
    return server
}

@Suite(.serialized) struct CurveTests {
    @Test func z85MatchesTheRFCExampleAndRejectsBadInput() throws {
        let helloWorld: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]  // RFC 32's test vector
        #expect(try Z85.encode(helloWorld) == "HelloWorld")
        #expect(try Z85.decode("HelloWorld") == helloWorld)
        #expect(throws: ZMQError.self) { try Z85.encode([1, 2, 3]) }
        #expect(throws: ZMQError.invalidKey("Z85 text has a multiple of 5 characters, got 4")) { try Z85.decode("Hell") }
        #expect(throws: ZMQError.invalidKey("'\"' is not a Z85 character")) { try Z85.decode("Hell\"") }
        #expect(throws: ZMQError.self) { try Z85.decode("#####") }  // 84·85⁴ + … does not fit 32 bits
        #expect(throws: ZMQError.invalidKey("a Z85 key is 40 characters, got 10")) { try CurveKey(z85: "HelloWorld") }
        #expect(throws: ZMQError.invalidKey("a key is 32 bytes, got 8")) { try CurveKey(bytes: helloWorld) }
    }

    @Test func keyPairsRoundTripThroughZ85AndDerivePublicFromSecret() throws {
        try #require(ZeroMQLibrary.has("curve"))
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey != pair.secretKey)
        #expect(pair.publicKey.z85.utf8.count == 40)
        #expect(try CurveKey(z85: pair.secretKey.z85) == pair.secretKey)
        #expect(try CurveKey(publicKeyFor: pair.secretKey) == pair.publicKey)
    }

    /// A CURVE ROUTER that echoes, guarded by a ZAP handler, and clients of every kind.
    @Test func onlyClientsWithAnAllowedKeyAreServed() throws {
        try #require(ZeroMQLibrary.has("curve"))
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate(), allowed = try CurveKeyPair.generate()
        let unknown = try CurveKeyPair.generate(), wrongServer = try CurveKeyPair.generate()
        let decisions = Mutex<[ZAPHandler.Decision]>([])
        let handler = try ZAPHandler(context: context, domain: "regionspot", allowedClientKeys: [allowed.publicKey]) { decision in
            decisions.withLock { $0.append(decision) }
        }
        defer { handler.stop() }

        let server = try curveServer(context, serverKeys, domain: "regionspot")
        let monitor = try ZMQSocketMonitor(server, events: [.handshakeFailedAuth, .handshakeFailedProtocol])
        let address = try bindAndResolve(server, "tcp://127.0.0.1:*")

        func client(_ keys: CurveKeyPair?, serverKey: CurveKey = serverKeys.publicKey) throws -> ZMQSocket {
            try curveClient(context, keys, serverKey: serverKey, connectingTo: address)
        }
        /// The server answers one request; the client gets the echo.
        func expectServed(_ socket: ZMQSocket, _ text: String) throws {
            try socket.send([bytes(text)])
            let request = try server.receive()
            #expect(request.dropFirst() == [bytes(text)])
            try server.send(request)
            #expect(try socket.receive() == [bytes(text)])
        }

        let good = try client(allowed)
        try expectServed(good, "allowed")

        let stranger = try client(unknown)
        try stranger.send([bytes("stranger")])
        #expect(try monitor.wait(for: .handshakeFailedAuth, timeoutMilliseconds: 5000)?.value == 400)
        let plain = try client(nil)
        try plain.send([bytes("plain")])
        #expect(try monitor.wait(for: .handshakeFailedProtocol, timeoutMilliseconds: 5000) != nil)
        let impostor = try client(allowed, serverKey: wrongServer.publicKey)
        try impostor.send([bytes("impostor")])
        #expect(try monitor.wait(for: .handshakeFailedProtocol, timeoutMilliseconds: 5000) != nil)

        // None of them reached the server, which keeps serving the allowed client.
        try expectServed(good, "still allowed")
        #expect(try server.tryReceive() == nil)
        for refused in [stranger, plain, impostor] { #expect(try refused.tryReceive() == nil) }

        // Once its key is allowed, the stranger gets in on a new connection.
        handler.allowedClientKeys.insert(unknown.publicKey)
        #expect(handler.allowedClientKeys == [allowed.publicKey, unknown.publicKey])
        try expectServed(try client(unknown), "welcome")

        let seen = decisions.withLock { $0 }
        #expect(seen.contains { $0.clientKey == unknown.publicKey && $0.statusCode == "400" && $0.domain == "regionspot" })
        #expect(seen.filter(\.accepted).compactMap(\.clientKey).allSatisfy { [allowed.publicKey, unknown.publicKey].contains($0) })
        #expect(seen.allSatisfy { $0.mechanism == "CURVE" && $0.address == "127.0.0.1" })
    }

    @Test func refusesOtherDomainsIsOnePerContextAndFailsClosedWhenStopped() throws {
        try #require(ZeroMQLibrary.has("curve"))
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate(), allowed = try CurveKeyPair.generate()
        let handler = try ZAPHandler(context: context, domain: "regionspot", allowedClientKeys: [allowed.publicKey])
        #expect(throws: ZMQError.self) { _ = try ZAPHandler(context: context, domain: "other", allowedClientKeys: []) }

        let server = try curveServer(context, serverKeys, domain: "another-service")
        let monitor = try ZMQSocketMonitor(server, events: [.handshakeFailedAuth, .handshakeFailedNoDetail, .handshakeSucceeded])
        let address = try bindAndResolve(server, "tcp://127.0.0.1:*")
        let client = try curveClient(context, allowed, serverKey: serverKeys.publicKey, connectingTo: address)
        try client.send([bytes("hello")])
        // A generous bound: it returns with the event, and CI's two cores run the other suites meanwhile.
        #expect(try monitor.wait(for: .handshakeFailedAuth, timeoutMilliseconds: 30_000)?.value == 400)

        // Stopped, the handler answers nothing; with the domain enforced, nobody gets in: the
        // handshake fails, or (when it reaches the handler's socket while libzmq still closes it)
        // waits unanswered until the handshake interval ends it. Either way it never succeeds.
        try server.set(.handshakeInterval, 1000)
        handler.stop()
        let late = try curveClient(context, allowed, serverKey: serverKeys.publicKey, connectingTo: address)
        try late.send([bytes("hello")])
        let outcome = try monitor.wait(for: [.handshakeFailedNoDetail, .handshakeSucceeded], timeoutMilliseconds: 3000)
        #expect(outcome?.kind != .handshakeSucceeded)
        #expect(try server.tryReceive() == nil)
    }
}
