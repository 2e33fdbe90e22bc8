import Foundation
import ZeroMQ

/// Guards every blocking receive in these tests, so a failure fails instead of hanging.
let testTimeoutMilliseconds: Int32 = 5000

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A socket whose blocking calls give up after `testTimeoutMilliseconds`.
func makeSocket(_ context: ZMQContext, _ type: ZMQSocketType) throws -> ZMQSocket {
    let socket = try ZMQSocket(context: context, type: type)
    try socket.set(.receiveTimeout, testTimeoutMilliseconds)
    try socket.set(.sendTimeout, testTimeoutMilliseconds)
    return socket
}

/// Binds `endpoint` (a `tcp://127.0.0.1:*` wildcard picks a free port) and returns what peers connect to.
func bindAndResolve(_ socket: ZMQSocket, _ endpoint: String) throws -> String {
    try socket.bind(endpoint)
    return try socket.get(.lastEndpoint)
}

/// Runs `body` on a thread of its own (a blocked ZeroMQ call must not hold one of the test
/// runner's threads) and waits for it to end.
func onThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let finished = DispatchSemaphore(value: 0)
    Thread {
        body()
        finished.signal()
    }.start()
    return finished
}
