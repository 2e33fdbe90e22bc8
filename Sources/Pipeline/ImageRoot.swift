import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The directory under which recognition requests may name images on the daemon's machine
/// (`serve --image-root`): a path is honoured when it resolves, symbolic links followed, to a
/// regular file inside the root (itself resolved). A relative path is taken from the root.
public struct ImageRoot: Sendable {
    /// The root with every symbolic link resolved.
    public let path: String

    /// Fails, naming the directory, unless it exists and is a directory.
    public init(_ directory: String) throws {
        guard let resolved = Self.realPath(directory) else {
            throw RequestRefusal(.notFound, "--image-root \(directory): \(String(cString: strerror(errno)))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RequestRefusal(.invalidArgument, "--image-root \(directory): not a directory")
        }
        path = resolved
    }

    /// The file's bytes, or PERMISSION_DENIED (outside the root, or unreadable) or NOT_FOUND naming the path.
    func read(_ requested: String, maxBytes: Int) -> Result<Data, RequestRefusal> {
        let absolute = requested.hasPrefix("/") ? requested : path + "/" + requested
        guard let resolved = Self.realPath(absolute) else {
            // Only a path inside the root may learn that it does not exist.
            let lexical = URL(fileURLWithPath: absolute).standardized.path
            return .failure(contains(lexical) ? RequestRefusal(.notFound, "image_path: '\(requested)': no such file under the image root")
                                              : outside(requested))
        }
        guard contains(resolved) else { return .failure(outside(requested)) }
        let descriptor = open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            return .failure(RequestRefusal(.permissionDenied, "image_path: '\(requested)' cannot be opened: \(String(cString: strerror(errno)))"))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        // What was opened, not what the name meant a moment earlier: a link swapped in between is caught here.
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG,
              let opened = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)"), contains(opened) else {
            return .failure(RequestRefusal(.permissionDenied, "image_path: '\(requested)' is not a regular file under the image root"))
        }
        guard Int(status.st_size) <= maxBytes else {
            return .failure(RequestRefusal(.invalidArgument, "image_path: '\(requested)' is \(status.st_size) bytes, over max_message_size (\(maxBytes))"))
        }
        do {
            return .success(try handle.readToEnd() ?? Data())
        } catch {
            return .failure(RequestRefusal(.permissionDenied, "image_path: '\(requested)' cannot be read: \(error.localizedDescription)"))
        }
    }

    private func contains(_ candidate: String) -> Bool {
        candidate == path || candidate.hasPrefix(path.hasSuffix("/") ? path : path + "/")
    }

    private func outside(_ requested: String) -> RequestRefusal {
        RequestRefusal(.permissionDenied, "image_path: '\(requested)' is outside the image root (symbolic links resolved)")
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
