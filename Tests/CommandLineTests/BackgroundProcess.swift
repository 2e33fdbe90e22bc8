import Foundation

/// A `regionspot` child that runs while the test goes on: its standard error is collected line by
/// line, the test waits for conditions on it (never a fixed sleep), and it is killed when the
/// value goes away, so a failing test leaves nothing running.
final class BackgroundProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var errorText = ""
    private let errorPipe = Pipe()

    init(_ arguments: [String], environment changes: [String: String] = [:]) throws {
        process.executableURL = Executable.url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(changes) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorPipe
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            lock.lock()
            errorText += String(decoding: data, as: UTF8.self)
            lock.unlock()
        }
        try process.run()
    }

    deinit { kill(SIGKILL) }

    var standardError: String {
        lock.lock()
        defer { lock.unlock() }
        return errorText
    }

    func kill(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end; returns its exit status (nil past the timeout).
    @discardableResult
    func wait(timeout: Double) -> Int32? {
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { [process] in
            process.waitUntilExit()
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        errorPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass; returns whether it held.
func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}
