import Foundation

/// A `regionspot` process a test started: its output read line by line as it comes, and killed
/// (SIGKILL) when released, so that a failing test leaves nothing running.
final class RunningProcess: @unchecked Sendable {
    let process = Process()
    private let streams = Streams()
    private let exited = DispatchSemaphore(value: 0)

    /// What the child wrote so far. The reader threads hold only this, never the process
    /// object, so releasing the last reference to it kills the child.
    private final class Streams: @unchecked Sendable {
        let condition = NSCondition()
        // Guarded by `condition`.
        var output = ""
        var errors = ""
        var closed = 0
    }

    init(_ arguments: [String], environment changes: [String: String] = [:]) throws {
        process.executableURL = Executable.url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(changes) { $1 }
        let stdout = Pipe(), stderr = Pipe()
        (process.standardOutput, process.standardError) = (stdout, stderr)
        let exited = exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        // Both pipes are drained all the time: a full pipe would stop the child.
        Self.read(stdout.fileHandleForReading, into: streams) { $0.output += $1 }
        Self.read(stderr.fileHandleForReading, into: streams) { $0.errors += $1 }
    }

    private static func read(_ handle: FileHandle, into streams: Streams, _ append: @escaping @Sendable (Streams, String) -> Void) {
        Thread {
            while true {
                let data = handle.availableData
                streams.condition.lock()
                if data.isEmpty { streams.closed += 1 } else { append(streams, String(decoding: data, as: UTF8.self)) }
                streams.condition.broadcast()
                streams.condition.unlock()
                if data.isEmpty { return }
            }
        }.start()
    }

    var pid: Int32 { process.processIdentifier }
    var standardOutput: String { streams.condition.withLock { streams.output } }
    var standardError: String { streams.condition.withLock { streams.errors } }

    /// The first line of stdout containing `text`, waiting up to `timeout` seconds for it.
    func line(containing text: String, timeout: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        streams.condition.lock()
        defer { streams.condition.unlock() }
        while true {
            if let line = streams.output.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard streams.closed < 2, streams.condition.wait(until: deadline) else {
                throw ProcessFailure("no line with '\(text)' from regionspot \(process.arguments ?? []) within \(timeout) s; "
                                     + "stdout: \(streams.output.suffix(2000)) stderr: \(streams.errors.suffix(4000))")
            }
        }
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Waits up to `timeout` seconds for the process to end; its exit status, or nil if it is still running.
    func exitStatus(within timeout: Double) -> Int32? {
        guard exited.wait(timeout: .now() + timeout) == .success else { return nil }
        exited.signal()  // later calls return at once
        return process.terminationStatus
    }

    /// Resident memory (VmRSS) in kB, from /proc.
    func residentKilobytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
