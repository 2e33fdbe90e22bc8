import CZeroMQ

/// Z85, ZeroMQ's printable encoding of binary keys (RFC 32): 4 bytes become 5 characters.
public enum Z85 {
    /// Encodes bytes whose count is a multiple of 4.
    public static func encode(_ bytes: [UInt8]) throws -> String {
        guard bytes.count % 4 == 0 else { throw ZMQError.invalidKey("Z85 encodes multiples of 4 bytes, got \(bytes.count)") }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { throw ZMQError.last("zmq_z85_encode") }
        return string(fromCText: text)
    }

    /// The 85 characters, in the order of their values.
    private static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Decodes text whose length is a multiple of 5, made of Z85's 85 characters.
    public static func decode(_ text: String) throws -> [UInt8] {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0 else {
            throw ZMQError.invalidKey("Z85 text has a multiple of 5 characters, got \(characters.count)")
        }
        // libzmq 4.3 decodes characters outside the alphabet into garbage instead of failing.
        if let bad = characters.first(where: { !alphabet.contains($0) }) {
            throw ZMQError.invalidKey("'\(UnicodeScalar(bad))' is not a Z85 character")
        }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        guard zmq_z85_decode(&bytes, text) != nil else { throw ZMQError.invalidKey("'\(text)' is not Z85 text (a group exceeds 32 bits)") }
        return bytes
    }
}

/// A CURVE (Curve25519) key: 32 bytes, written as 40 Z85 characters in files and logs.
public struct CurveKey: Hashable, Sendable, CustomStringConvertible, ZMQOptionValue {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw ZMQError.invalidKey("a key is 32 bytes, got \(bytes.count)") }
        self.bytes = bytes
    }

    public init(z85: String) throws {
        guard z85.utf8.count == 40 else { throw ZMQError.invalidKey("a Z85 key is 40 characters, got \(z85.utf8.count)") }
        try self.init(bytes: Z85.decode(z85))
    }

    public var z85: String { try! Z85.encode(bytes) }  // 32 bytes always encode
    public var description: String { z85 }

    /// The public key that belongs to a secret key.
    public init(publicKeyFor secretKey: CurveKey) throws {
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey.z85) == 0 else { throw ZMQError.last("zmq_curve_public") }
        try self.init(z85: string(fromCText: publicText))
    }

    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes(body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) throws { try self.init(bytes: Array(optionBytes)) }
    public static var optionCapacity: Int { 32 }
}

/// A CURVE key pair; the secret half never leaves the process that made it, except to its key file.
public struct CurveKeyPair: Sendable {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    public init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random pair; fails with ENOTSUP when libzmq was built without CURVE (libsodium).
    public static func generate() throws -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return try CurveKeyPair(publicKey: CurveKey(z85: string(fromCText: publicText)),
                                secretKey: CurveKey(z85: string(fromCText: secretText)))
    }
}

/// The text in a NUL-terminated buffer that a libzmq call filled.
private func string(fromCText buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
