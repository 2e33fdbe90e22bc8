/// How a socket authenticates its connections with CURVE (encryption and a public-key check).
public enum CurveSecurity: Sendable {
    /// A server: its secret key; every client handshake is put to the ZAP handler of `zapDomain`,
    /// and refused when none answers (`ZMQ_ZAP_ENFORCE_DOMAIN`: without it libzmq lets any CURVE
    /// client in while no handler is bound).
    case server(secretKey: CurveKey, zapDomain: String)
    /// A client: the server's public key it expects, and its own key pair.
    case client(serverKey: CurveKey, keys: CurveKeyPair)

    /// inproc:// connections never leave the process: CURVE is for the others.
    public static func applies(to endpoint: String) -> Bool { !endpoint.hasPrefix("inproc://") }
}

extension ZMQSocket {
    /// Sets the CURVE options of `security`; call before `bind` or `connect`.
    public func secure(_ security: CurveSecurity) throws {
        switch security {
        case let .server(secretKey, zapDomain):
            try set(.curveServer, true)
            try set(.curveSecretKey, secretKey)
            try set(.zapDomain, zapDomain)
            try set(.zapEnforceDomain, true)
        case let .client(serverKey, keys):
            try set(.curveServerKey, serverKey)
            try set(.curvePublicKey, keys.publicKey)
            try set(.curveSecretKey, keys.secretKey)
        }
    }
}
