import Foundation

public enum WatchError: Error, CustomStringConvertible, Equatable {
    case system(call: String, path: String, errno: Int32)
    case notADirectory(String)
    /// An input that cannot be processed, naming the file, the field (if any) and why.
    case badInput(file: String, field: String?, reason: String)

    public var description: String {
        switch self {
        case let .system(call, path, code):
            return "\(call)(\(path)) failed: \(String(cString: strerror(code)))"
        case let .notADirectory(path):
            return "\(path): not a directory"
        case let .badInput(file, field, reason):
            return "\(file)\(field.map { ": \($0)" } ?? ""): \(reason)"
        }
    }
}
