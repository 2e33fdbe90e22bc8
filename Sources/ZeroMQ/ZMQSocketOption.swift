import CZeroMQ

/// A value libzmq stores in a socket option, with the byte layout `zmq_setsockopt` expects.
public protocol ZMQOptionValue {
    /// Calls `body` with the option's bytes as `zmq_setsockopt` takes them.
    func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
    /// The value from the bytes `zmq_getsockopt` wrote.
    init(optionBytes: UnsafeRawBufferPointer) throws
    /// How many bytes `zmq_getsockopt` may write.
    static var optionCapacity: Int { get }
}

extension Int32: ZMQOptionValue {
    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: self, body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) { self = optionBytes.loadUnaligned(as: Int32.self) }
    public static var optionCapacity: Int { MemoryLayout<Int32>.size }
}

extension Int64: ZMQOptionValue {
    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: self, body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) { self = optionBytes.loadUnaligned(as: Int64.self) }
    public static var optionCapacity: Int { MemoryLayout<Int64>.size }
}

/// libzmq's boolean options are C ints holding 0 or 1.
extension Bool: ZMQOptionValue {
    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Int32(self ? 1 : 0).withOptionBytes(body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) { self = Int32(optionBytes: optionBytes) != 0 }
    public static var optionCapacity: Int { MemoryLayout<Int32>.size }
}

/// Binary options (routing ids) are at most 255 bytes.
extension Array: ZMQOptionValue where Element == UInt8 {
    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) { self = Array(optionBytes) }
    public static var optionCapacity: Int { 255 }
}

/// Text options are set without a terminator; libzmq returns them with one, which is dropped.
extension String: ZMQOptionValue {
    public func withOptionBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Array(utf8).withUnsafeBytes(body)
    }
    public init(optionBytes: UnsafeRawBufferPointer) {
        let text = optionBytes.last == 0 ? UnsafeRawBufferPointer(rebasing: optionBytes.dropLast()) : optionBytes
        self = String(decoding: text, as: UTF8.self)
    }
    public static var optionCapacity: Int { 1024 }
}

/// A socket option whose value has type `Value`, used as `socket.set(.linger, 0)`.
public struct ZMQSocketOption<Value: ZMQOptionValue>: Sendable {
    /// libzmq's option number (`ZMQ_LINGER`…).
    public let code: Int32
    /// The `ZMQ_` name, for error messages.
    public let name: String

    public init(code: Int32, name: String) {
        self.code = code
        self.name = name
    }
}

extension ZMQSocketOption where Value == Int32 {
    /// Milliseconds a closing socket keeps trying to deliver pending messages (-1 forever, 0 drop).
    public static var linger: Self { .init(code: ZMQ_LINGER, name: "ZMQ_LINGER") }
    /// Messages queued per peer for sending before sends block or (ROUTER, PUB) drop.
    public static var sendHighWaterMark: Self { .init(code: ZMQ_SNDHWM, name: "ZMQ_SNDHWM") }
    /// Messages queued per peer on receipt before libzmq stops reading from it.
    public static var receiveHighWaterMark: Self { .init(code: ZMQ_RCVHWM, name: "ZMQ_RCVHWM") }
    /// Milliseconds a blocking receive waits before `ZMQError.timedOut` (-1 forever).
    public static var receiveTimeout: Self { .init(code: ZMQ_RCVTIMEO, name: "ZMQ_RCVTIMEO") }
    /// Milliseconds a blocking send waits before `ZMQError.timedOut` (-1 forever).
    public static var sendTimeout: Self { .init(code: ZMQ_SNDTIMEO, name: "ZMQ_SNDTIMEO") }
    /// Milliseconds between ZMTP PINGs on connection-oriented transports (0 off).
    public static var heartbeatInterval: Self { .init(code: ZMQ_HEARTBEAT_IVL, name: "ZMQ_HEARTBEAT_IVL") }
    /// Milliseconds without traffic after a PING before the connection is dropped.
    public static var heartbeatTimeout: Self { .init(code: ZMQ_HEARTBEAT_TIMEOUT, name: "ZMQ_HEARTBEAT_TIMEOUT") }
    /// Milliseconds the remote peer should wait for traffic before dropping us (sent in PINGs).
    public static var heartbeatTTL: Self { .init(code: ZMQ_HEARTBEAT_TTL, name: "ZMQ_HEARTBEAT_TTL") }
    /// Milliseconds a connection may take to finish its security handshake (libzmq's default 30,000;
    /// 0 forever): bounds how long a handshake nobody answers (no ZAP handler) holds a connection.
    public static var handshakeInterval: Self { .init(code: ZMQ_HANDSHAKE_IVL, name: "ZMQ_HANDSHAKE_IVL") }
}

extension ZMQSocketOption where Value == Int64 {
    /// The largest frame accepted from a peer, in bytes (-1 any); a peer that sends a larger one is
    /// disconnected.
    public static var maxMessageSize: Self { .init(code: ZMQ_MAXMSGSIZE, name: "ZMQ_MAXMSGSIZE") }
}

extension ZMQSocketOption where Value == Bool {
    /// ROUTER: a message to an unknown peer fails with EHOSTUNREACH instead of vanishing.
    public static var routerMandatory: Self { .init(code: ZMQ_ROUTER_MANDATORY, name: "ZMQ_ROUTER_MANDATORY") }
    /// Queue messages only for completed connections, so nothing waits on a peer that never came.
    public static var immediate: Self { .init(code: ZMQ_IMMEDIATE, name: "ZMQ_IMMEDIATE") }
    /// This socket is the CURVE server side (needs `.curveSecretKey`).
    public static var curveServer: Self { .init(code: ZMQ_CURVE_SERVER, name: "ZMQ_CURVE_SERVER") }
    /// Refuse connections when no ZAP handler runs, instead of letting every client in.
    /// Debian's zmq.h hides it as a draft option, but libzmq 4.3 accepts its number, 93.
    public static var zapEnforceDomain: Self { .init(code: 93, name: "ZMQ_ZAP_ENFORCE_DOMAIN") }
}

extension ZMQSocketOption where Value == [UInt8] {
    /// The identity a ROUTER peer sees for this socket (1-255 bytes, not starting with 0).
    public static var routingId: Self { .init(code: ZMQ_ROUTING_ID, name: "ZMQ_ROUTING_ID") }
}

extension ZMQSocketOption where Value == String {
    /// The ZAP domain of the socket's connections; with one set, every handshake asks the ZAP handler.
    public static var zapDomain: Self { .init(code: ZMQ_ZAP_DOMAIN, name: "ZMQ_ZAP_DOMAIN") }
    /// The endpoint last bound, with the real port after binding `tcp://127.0.0.1:*` (read only).
    public static var lastEndpoint: Self { .init(code: ZMQ_LAST_ENDPOINT, name: "ZMQ_LAST_ENDPOINT") }
}

extension ZMQSocketOption where Value == CurveKey {
    /// This socket's long-term CURVE public key (clients).
    public static var curvePublicKey: Self { .init(code: ZMQ_CURVE_PUBLICKEY, name: "ZMQ_CURVE_PUBLICKEY") }
    /// This socket's long-term CURVE secret key (clients and servers).
    public static var curveSecretKey: Self { .init(code: ZMQ_CURVE_SECRETKEY, name: "ZMQ_CURVE_SECRETKEY") }
    /// The server's public key a client expects.
    public static var curveServerKey: Self { .init(code: ZMQ_CURVE_SERVERKEY, name: "ZMQ_CURVE_SERVERKEY") }
}

extension ZMQSocket {
    public func set<Value>(_ option: ZMQSocketOption<Value>, _ value: Value) throws {
        let result = value.withOptionBytes { zmq_setsockopt(handle, option.code, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("zmq_setsockopt(\(option.name))") }
    }

    public func get<Value>(_ option: ZMQSocketOption<Value>) throws -> Value {
        var bytes = [UInt8](repeating: 0, count: Value.optionCapacity)
        var size = bytes.count
        let result = bytes.withUnsafeMutableBytes { zmq_getsockopt(handle, option.code, $0.baseAddress, &size) }
        guard result == 0 else { throw ZMQError.last("zmq_getsockopt(\(option.name))") }
        return try bytes.withUnsafeBytes { try Value(optionBytes: UnsafeRawBufferPointer(rebasing: $0.prefix(size))) }
    }
}
