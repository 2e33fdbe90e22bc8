/// What went wrong reading a PyTorch checkpoint. Every case names the file; pickle errors
/// also name the byte offset or the key path where the problem sits.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case corruptZip(file: String, reason: String)
    case missingEntry(file: String, entry: String)
    case unsupportedCompression(file: String, entry: String, method: Int)
    case notACheckpoint(file: String, reason: String)
    case forbiddenGlobal(file: String, global: String)
    case malformedPickle(file: String, offset: Int, reason: String)
    case unsupportedStorage(file: String, type: String)
    case badTensor(file: String, key: String, reason: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .corruptZip(file, reason):
            return "\(file): corrupt or truncated zip archive: \(reason)"
        case let .missingEntry(file, entry):
            return "\(file): archive has no entry '\(entry)'"
        case let .unsupportedCompression(file, entry, method):
            return "\(file): entry '\(entry)' uses zip compression method \(method); only stored (0) and deflate (8) are supported"
        case let .notACheckpoint(file, reason):
            return "\(file): not a PyTorch checkpoint: \(reason)"
        case let .forbiddenGlobal(file, global):
            return "\(file): refusing to load: the pickle references '\(global)', which is not a tensor, storage or container type (nothing was executed)"
        case let .malformedPickle(file, offset, reason):
            return "\(file): malformed pickle at byte \(offset): \(reason)"
        case let .unsupportedStorage(file, type):
            return "\(file): unsupported storage type '\(type)'"
        case let .badTensor(file, key, reason):
            return "\(file): tensor '\(key)': \(reason)"
        case let .writeFailed(file, reason):
            return "\(file): cannot write: \(reason)"
        }
    }
}
