/// What went wrong reading or writing a tensor file (safetensors, .npy, checkpoints), decoding
/// safetensors bytes, or resolving a weight. Every case names the file (or what the bytes
/// are), and the tensor or key when there is one.
public enum TensorFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case truncated(file: String, reason: String)
    case headerBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    case malformedHeader(file: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case byteCountMismatch(file: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlappingData(file: String, tensor: String, other: String)
    case fortranOrder(file: String)
    case missingTensor(file: String, key: String)
    case shapeMismatch(file: String, key: String, expected: [Int], actual: [Int])
    case duplicateKey(file: String, key: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .truncated(file, reason):
            return "\(file): truncated: \(reason)"
        case let .headerBeyondFile(file, length, size):
            return "\(file): header length \(length) runs past the end of the data (\(size) bytes in all)"
        case let .malformedHeader(file, reason):
            return "\(file): malformed header: \(reason)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)': unknown or unsupported dtype '\(dtype)'"
        case let .byteCountMismatch(file, tensor, shape, dtype, expected, actual):
            return "\(file): tensor '\(tensor)': shape \(shape) of \(dtype) needs \(expected) bytes, data holds \(actual)"
        case let .offsetsOutOfRange(file, tensor, begin, end, dataSize):
            return "\(file): tensor '\(tensor)': data offsets [\(begin), \(end)) out of range of the \(dataSize)-byte data section"
        case let .overlappingData(file, tensor, other):
            return "\(file): tensor '\(tensor)': data overlaps tensor '\(other)'"
        case let .fortranOrder(file):
            return "\(file): Fortran-ordered arrays are not supported (save with C order)"
        case let .missingTensor(file, key):
            return "\(file): missing tensor '\(key)'"
        case let .shapeMismatch(file, key, expected, actual):
            return "\(file): tensor '\(key)': expected shape \(expected), found \(actual)"
        case let .duplicateKey(file, key):
            return "\(file): tensor key '\(key)' appears more than once"
        case let .writeFailed(file, reason):
            return "\(file): cannot write: \(reason)"
        }
    }
}
