/// Everything that can be wrong with an evaluation's input, each naming where.
public enum EvaluationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or mapped.
    case unreadable(file: String, reason: String)
    /// The bytes are not JSON (or not the JSON shape expected) at this line and column.
    case malformedJSON(file: String, line: Int, column: Int, reason: String)
    /// A record is well-formed JSON but its content is unusable.
    case invalidRecord(file: String, record: String, field: String, reason: String)
    /// The command line asked for something impossible.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .malformedJSON(file, line, column, reason):
            return "\(file):\(line):\(column): malformed JSON: \(reason)"
        case let .invalidRecord(file, record, field, reason):
            return "\(file): \(record)" + (field.isEmpty ? "" : ".\(field)") + ": \(reason)"
        case let .invalidArgument(reason):
            return reason
        }
    }
}
