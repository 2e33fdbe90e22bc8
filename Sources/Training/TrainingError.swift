/// Bad training input or settings, naming what is wrong and where.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case badBatch(String)
    case badOption(String)
    case badData(String)
    case badCheckpoint(String)

    public var description: String {
        switch self {
        case let .badBatch(message): return "training batch: \(message)"
        case let .badOption(message): return "training option: \(message)"
        case let .badData(message): return "training data: \(message)"
        case let .badCheckpoint(message): return "training checkpoint: \(message)"
        }
    }
}
