import Foundation

/// Files written under a temporary name beside their target, flushed to disk, then renamed into
/// place and the directory flushed: a reader (or a crash, or a power cut) never sees a
/// half-written file under the final name.
public enum AtomicFile {
    /// `body` writes the contents through the handle; any failure removes the temporary file and
    /// is thrown as `TensorFileError.writeFailed` naming `url`.
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw TensorFileError.writeFailed(file: url.path, reason: "cannot create \(temporary.lastPathComponent): \(String(cString: strerror(errno)))")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try body(handle)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw TensorFileError.writeFailed(file: url.path, reason: "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
            synchronizeDirectory(of: url)
        } catch let error as TensorFileError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TensorFileError.writeFailed(file: url.path, reason: error.localizedDescription)
        }
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }
}

/// fsync(2) of the directory holding `url`, so a rename in it is on disk.
public func synchronizeDirectory(of url: URL) {
    let descriptor = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
    guard descriptor >= 0 else { return }
    fsync(descriptor)
    close(descriptor)
}
