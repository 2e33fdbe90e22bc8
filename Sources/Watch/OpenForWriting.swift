import Foundation

/// Whether any process on this machine holds `path` open for writing, read from /proc (each
/// process's fd links and their fdinfo flags); nil when /proc cannot tell. A rescan uses it for
/// files changed moments ago: a writer still holding the file means its IN_CLOSE_WRITE is yet
/// to come. (Writers on other machines, over NFS, are not seen, and NFS sends no events either.)
func isOpenForWriting(_ path: String) -> Bool? {
    let manager = FileManager.default
    guard let processes = try? manager.contentsOfDirectory(atPath: "/proc") else { return nil }
    let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    for pid in processes where pid.allSatisfy(\.isNumber) {
        guard let descriptors = try? manager.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
        for fd in descriptors {
            guard let link = try? manager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), link == target,
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                  let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                  let flags = Int(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8) else { continue }
            if flags & (Int(O_WRONLY) | Int(O_RDWR)) != 0 { return true }
        }
    }
    return false
}
