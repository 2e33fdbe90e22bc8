import Foundation

/// Counts the watcher reports.
public struct WatchStatus: Sendable, Equatable {
    public var processed: Int
    public var failed: Int
    public var queued: Int
    public var running: Int
    /// Images waiting for their sidecar or for their writer to finish.
    public var waiting: Int
    public var imagesPerSecond: Double

    public var line: String {
        String(format: "processed %d, failed %d, queued %d, running %d, waiting %d, %.2f images/s",
               processed, failed, queued, running, waiting, imagesPerSecond)
    }
}

/// The status line on a terminal (rewritten in place), or a line every `interval` seconds when it
/// changed on anything else (a log file, a pipe).
public final class WatchProgress: @unchecked Sendable {
    private let handle: FileHandle
    private let interactive: Bool
    private let interval: Double
    private var last: (time: Date, status: WatchStatus)?

    public init(handle: FileHandle = .standardError, interval: Double = 10) {
        self.handle = handle
        interactive = isatty(handle.fileDescriptor) != 0
        self.interval = interval
    }

    func show(_ status: WatchStatus) {
        if interactive {
            handle.write(Data("\r\u{1B}[K\(status.line)".utf8))
        } else if last.map({ $0.status != status && Date().timeIntervalSince($0.time) >= interval }) ?? true {
            handle.write(Data("\(status.line)\n".utf8))
            last = (Date(), status)
        }
    }

    func finish(_ status: WatchStatus) {
        handle.write(Data(interactive ? "\r\u{1B}[K\(status.line)\n".utf8 : "\(status.line)\n".utf8))
    }
}
