import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Weight files are gigabytes; mapping lets the
/// kernel page in only what is read and share pages between processes. Large annotation and
/// results files are parsed in place the same way, so no second copy of their bytes exists.
public final class MappedFile: @unchecked Sendable {
    public let url: URL
    /// The file's bytes; valid for the lifetime of this object.
    public let bytes: UnsafeRawBufferPointer

    /// `sequential` tells the kernel the file is read front to back once (`MADV_SEQUENTIAL`:
    /// read ahead further, drop pages behind), as a JSON parser reads it.
    public init(url: URL, sequential: Bool = false) throws {
        self.url = url
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorFileError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw TensorFileError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw TensorFileError.unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw TensorFileError.unreadable(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        if sequential { madvise(base, size, Int32(MADV_SEQUENTIAL)) }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public var count: Int { bytes.count }
}
