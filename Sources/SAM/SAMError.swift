import Foundation

/// Bad weights or inputs for the SAM models; every case names what was wrong and where.
public enum SAMError: Error, CustomStringConvertible, Equatable {
    /// The checkpoint is none of the known layouts (segment-anything, Hugging Face, MobileSAM).
    case unknownCheckpoint(origin: String, reason: String)
    /// The weights do not determine a configuration (missing or inconsistent tensors).
    case inconsistentWeights(key: String, reason: String)
    /// Tensors the model does not use: the checkpoint is not the model we think it is.
    case unusedTensors(origin: String, keys: [String])
    /// An input tensor or prompt has the wrong shape or value.
    case badInput(what: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownCheckpoint(origin, reason):
            return "\(origin): not a SAM checkpoint: \(reason)"
        case let .inconsistentWeights(key, reason):
            return "weights: \(key): \(reason)"
        case let .unusedTensors(origin, keys):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "\(origin): \(keys.count) tensor(s) the model does not use: \(shown)\(keys.count > 8 ? ", …" : "")"
        case let .badInput(what, reason):
            return "\(what): \(reason)"
        }
    }
}
