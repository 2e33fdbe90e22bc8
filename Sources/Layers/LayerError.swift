/// Weights that do not fit the layer built from them.
public enum LayerError: Error, CustomStringConvertible, Equatable {
    case headsDoNotDivide(key: String, width: Int, heads: Int)

    public var description: String {
        switch self {
        case let .headsDoNotDivide(key, width, heads):
            return "\(key): attention width \(width) is not divisible by \(heads) heads"
        }
    }
}
