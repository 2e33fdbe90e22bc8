import Foundation
import Logging
import Pipeline
import Synchronization
import ZeroMQ

/// `serve --curve-secret FILE --curve-allow DIR`: the daemon's key pair, and the ZAP handler that
/// lets in exactly the clients and workers whose public key is in DIR (reread by `reload`, on SIGHUP).
/// The daemon's own clients (its warm-up, its workers on tcp endpoints) use a key pair made at start.
final class CurveGate: Sendable {
    static let zapDomain = "regionspot"

    let serverKeys: CurveKeyPair
    let ownKeys: CurveKeyPair
    let allowDirectory: String
    private let handler: ZAPHandler
    private let logger: Logger

    init(secretFile: String, allowDirectory: String, context: ZMQContext, logger: Logger) throws {
        serverKeys = try CurveKeyFiles.keyPair(secretAt: secretFile)
        ownKeys = try CurveKeyPair.generate()
        self.allowDirectory = allowDirectory
        self.logger = logger
        let allowed = try CurveKeyFiles.allowedKeys(in: allowDirectory)
        let refusals = RefusalLog()
        handler = try ZAPHandler(context: context, domain: Self.zapDomain, allowedClientKeys: allowed.union([ownKeys.publicKey])) { decision in
            guard !decision.accepted, refusals.isNew(decision) else { return }
            logger.warning("refused a connection", metadata: [
                "address": "\(decision.address)", "mechanism": "\(decision.mechanism)",
                "client_key": "\(decision.clientKey?.z85 ?? "none")",
            ])
        }
        logger.notice("CURVE on", metadata: ["server_key": "\(serverKeys.publicKey.z85)", "allowed_keys": "\(allowed.count)",
                                             "allow_directory": "\(allowDirectory)"])
    }

    /// Rereads the allowed keys; a directory that cannot be read keeps the keys allowed before.
    func reload() {
        do {
            let allowed = try CurveKeyFiles.allowedKeys(in: allowDirectory)
            handler.allowedClientKeys = allowed.union([ownKeys.publicKey])
            logger.notice("reloaded the allowed client keys", metadata: ["allowed_keys": "\(allowed.count)"])
        } catch {
            logger.error("kept the allowed client keys: \(error)")
        }
    }

    /// For the broker's sockets.
    var server: CurveSecurity { .server(secretKey: serverKeys.secretKey, zapDomain: Self.zapDomain) }
    /// For the daemon's own clients and workers.
    var ownClient: CurveSecurity { .client(serverKey: serverKeys.publicKey, keys: ownKeys) }

    func stop() { handler.stop() }
}

/// Which refusals were logged lately: a refused peer reconnects every 100 ms (libzmq's default
/// interval), and one line a minute per address and key says as much as ten a second.
private final class RefusalLog: Sendable {
    static let interval: Double = 60
    private let lastLogged = Mutex<[String: Date]>([:])

    func isNew(_ decision: ZAPHandler.Decision) -> Bool {
        let peer = "\(decision.address) \(decision.clientKey?.z85 ?? decision.mechanism)", now = Date()
        return lastLogged.withLock { logged in
            if let last = logged[peer], now.timeIntervalSince(last) < Self.interval { return false }
            if logged.count > 10_000 { logged.removeAll() }  // bounded, whatever the peers
            logged[peer] = now
            return true
        }
    }
}

/// `--curve-server-key FILE --curve-secret FILE` of a client or worker: both or neither.
func curveClient(serverKeyFile: String?, secretFile: String?) throws -> CurveSecurity? {
    switch (serverKeyFile, secretFile) {
    case (nil, nil):
        return nil
    case let (serverKeyFile?, secretFile?):
        guard ZeroMQLibrary.has("curve") else { throw CurveKeyFiles.Failure(description: noCurveMessage) }
        return .client(serverKey: try CurveKeyFiles.key(at: serverKeyFile), keys: try CurveKeyFiles.keyPair(secretAt: secretFile))
    default:
        throw CurveKeyFiles.Failure(description: "give both --curve-server-key and --curve-secret, or neither")
    }
}

let noCurveMessage = "this libzmq (\(ZeroMQLibrary.version)) was built without CURVE (zmq_has(\"curve\") is false): --curve-* cannot be used"
