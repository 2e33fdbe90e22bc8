/// What can be wrong with CLIP weights or inputs; each case names the file, key or argument.
public enum CLIPError: Error, CustomStringConvertible {
    case unsupportedConfiguration(file: String, reason: String)
    case missingTower(file: String, tower: String)
    case unexpectedTensors(file: String, keys: [String])
    case conversion(file: String, key: String, reason: String)
    case convertedCheckpoint(file: String, reason: String)
    case badInput(String)

    public var description: String {
        switch self {
        case .unsupportedConfiguration(let file, let reason): "\(file): unsupported CLIP weights: \(reason)"
        case .missingTower(let file, let tower): "\(file): these CLIP weights have no \(tower)"
        case .unexpectedTensors(let file, let keys):
            "\(file): \(keys.count) tensor(s) not used by the CLIP model: \(keys.prefix(8).joined(separator: ", "))\(keys.count > 8 ? ", …" : "")"
        case .conversion(let file, let key, let reason): "\(file): cannot convert Hugging Face tensor \(key): \(reason)"
        case .convertedCheckpoint(let file, let reason):
            "\(file) (Hugging Face names, read as OpenAI's): \(reason)"
        case .badInput(let reason): "CLIP input: \(reason)"
        }
    }
}
