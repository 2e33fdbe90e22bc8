import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT turned from "die now" into an event the daemon's main thread waits for
/// (and SIGHUP into a reload).
///
/// Not swift-service-lifecycle: its `ServiceGroup` runs async services and reports signals as an
/// AsyncSequence, while the daemon's roles are threads blocked in `zmq_poll` that stop on a control
/// message. Wrapping each in an async `run()` would block cooperative threads or bridge through
/// continuations for no gain; a dispatch signal source hands the signal to the thread that drains.
enum ShutdownSignals {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// From now on the first SIGTERM or SIGINT signals the returned semaphore instead of ending
    /// the process. Call it before starting threads.
    static func catchTermination() -> DispatchSemaphore {
        let received = DispatchSemaphore(value: 0)
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)  // the source still sees it
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { received.signal() }
            source.resume()
            sources.append(source)
        }
        return received
    }

    /// From now on SIGHUP runs `body` (on a dispatch queue) instead of ending the process.
    static func onHangUp(_ body: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: body)
        source.resume()
        sources.append(source)
    }
}

/// A line on stdout at once, unbuffered: readiness lines that scripts and tests wait for.
func announce(_ line: String) {
    FileHandle.standardOutput.write(Data("\(line)\n".utf8))
}
