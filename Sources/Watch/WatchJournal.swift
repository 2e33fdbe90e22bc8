import Foundation
import Tensors

/// The watcher's memory across restarts: an append-only file of JSON lines, each flushed to disk
/// (fsync) before the work it announces goes on. An attempt is recorded before it starts, so an
/// input that crashes the process is counted too and ends in `failed/` instead of looping; a torn
/// last line (kill -9 while writing) is ignored.
final class WatchJournal {
    struct Record: Codable, Equatable {
        enum Event: String, Codable { case attempt, done, failed }
        var event: Event
        var name: String
    }

    private let handle: FileHandle
    /// Attempts started per input name since it was last done or failed.
    private(set) var attempts: [String: Int] = [:]

    init(url: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: nil) else {
                throw WatchError.system(call: "create", path: url.path, errno: errno)
            }
        }
        let text = try Data(contentsOf: url)
        for line in text.split(separator: UInt8(ascii: "\n")) {
            guard let record = try? JSONDecoder().decode(Record.self, from: line) else { continue }
            switch record.event {
            case .attempt: attempts[record.name, default: 0] += 1
            case .done, .failed: attempts[record.name] = nil
            }
        }
        // Compacted at every start: only the attempts of inputs still open are kept, so the file
        // stays small however long the watcher runs.
        var kept = Data()
        for (name, count) in attempts.sorted(by: { $0.key < $1.key }) {
            for _ in 0..<count {
                kept.append(try JSONEncoder().encode(Record(event: .attempt, name: name)))
                kept.append(UInt8(ascii: "\n"))
            }
        }
        try AtomicFile.write(kept, to: url)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func record(_ event: Record.Event, _ name: String) throws {
        var line = try JSONEncoder().encode(Record(event: event, name: name))
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
        try handle.synchronize()
        switch event {
        case .attempt: attempts[name, default: 0] += 1
        case .done, .failed: attempts[name] = nil
        }
    }
}
