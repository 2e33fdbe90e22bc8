import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// inotify(7) on one directory: `IN_CLOSE_WRITE` (a file written and closed) and `IN_MOVED_TO`
/// (a file renamed in), the only two signals that a file is complete, plus the queue overflow
/// and the directory itself going away. Read from the watcher's own loop thread.
final class Inotify {
    enum Event: Equatable {
        /// A complete file appeared under this name.
        case file(String)
        /// Events were lost: rescan the directory.
        case overflow
        /// The watched directory was deleted or moved away.
        case directoryGone
    }

    private let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 << 10)

    init(directory: URL) throws {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw WatchError.system(call: "inotify_init1", path: directory.path, errno: errno) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
        guard inotify_add_watch(descriptor, directory.path, mask) >= 0 else {
            let code = errno
            close(descriptor)
            throw WatchError.system(call: "inotify_add_watch", path: directory.path, errno: code)
        }
    }

    deinit { close(descriptor) }

    /// Waits up to `timeout` seconds for events on this directory or for `wake` to become
    /// readable (drained here); returns what arrived, possibly nothing.
    func wait(timeout: Double, wake: Int32) -> [Event] {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        let milliseconds = Int32(max(0, min(timeout, 3600)) * 1000)
        guard poll(&fds, 2, milliseconds) > 0 else { return [] }
        if fds[1].revents != 0 {
            var sink = [UInt8](repeating: 0, count: 256)
            while read(wake, &sink, sink.count) > 0 {}
        }
        return fds[0].revents != 0 ? readEvents() : []
    }

    private func readEvents() -> [Event] {
        var events: [Event] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            buffer.withUnsafeBytes { raw in
                while offset + MemoryLayout<inotify_event>.size <= count {
                    let header = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    let nameStart = offset + MemoryLayout<inotify_event>.size
                    let nameBytes = raw[nameStart..<(nameStart + Int(header.len))].prefix { $0 != 0 }
                    if header.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        events.append(.overflow)
                    } else if header.mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 {
                        events.append(.directoryGone)
                    } else if !nameBytes.isEmpty {
                        events.append(.file(String(decoding: nameBytes, as: UTF8.self)))
                    }
                    offset = nameStart + Int(header.len)
                }
            }
        }
        return events
    }
}

/// A pipe other threads write to so that the loop's `poll` returns at once.
final class WakePipe: @unchecked Sendable {
    let readEnd: Int32
    private let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw WatchError.system(call: "pipe", path: "", errno: errno) }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        (readEnd, writeEnd) = (ends[0], ends[1])
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }
}
