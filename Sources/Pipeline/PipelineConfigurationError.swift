import Foundation
import Yams

/// A pipeline file that cannot be used, located as "file:line: key.path: what is wrong".
public struct PipelineConfigurationError: Error, Equatable, CustomStringConvertible {
    public let file: String
    /// 1-based; nil when the file could not be read at all.
    public let line: Int?
    /// Dotted keys from the top of the file ("stages.fuse.workers"); empty for the file as a whole.
    public let keyPath: String
    public let message: String

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

extension PipelineConfiguration {
    /// Reads a pipeline file; errors name `url`'s path as given (relative paths stay relative).
    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw PipelineConfigurationError(file: url.relativePath, line: nil, keyPath: "",
                                             message: "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(yaml: text, file: url.relativePath)
    }

    /// Parses pipeline YAML; `file` names it in errors.
    public init(yaml: String, file: String) throws {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw PipelineConfigurationError(file: file, line: 1, keyPath: "", message: "the file is empty")
            }
            root = node
        } catch let error as YamlError {
            throw PipelineConfigurationError(file: file, yamlError: error)
        }
        do {
            self = try YAMLDecoder().decode(PipelineConfiguration.self, from: root)
        } catch let error as DecodingError {
            throw PipelineConfigurationError(file: file, decodingError: error, root: root)
        }
    }
}

extension PipelineConfigurationError {
    /// A syntax error: libyaml's own words and position.
    init(file: String, yamlError: YamlError) {
        switch yamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            self.init(file: file, line: mark.line, keyPath: "", message: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            self.init(file: file, line: context.mark.line, keyPath: "",
                      message: "key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) appears twice in one mapping")
        default:
            self.init(file: file, line: nil, keyPath: "", message: "not valid YAML: \(yamlError)")
        }
    }

    /// A decoding error, placed at the line of the key it concerns.
    init(file: String, decodingError: DecodingError, root: Node) {
        let path: [any CodingKey], message: String
        switch decodingError {
        case .keyNotFound(let key, let context):
            (path, message) = (context.codingPath + [key], "missing (every key but batching, metrics and proposals is required)")
        case .dataCorrupted(let context):
            (path, message) = (context.codingPath, context.debugDescription)
        case .typeMismatch(let type, let context):
            (path, message) = (context.codingPath, "expected \(Self.describe(type)), got \(Self.describe(Self.node(at: context.codingPath, in: root).node))")
        case .valueNotFound(let type, let context):
            (path, message) = (context.codingPath, "expected \(Self.describe(type)), got nothing")
        @unknown default:
            (path, message) = ([], "\(decodingError)")
        }
        self.init(file: file, line: Self.node(at: path, in: root).line, keyPath: Self.keyPath(path), message: message)
    }

    static func keyPath(_ path: [any CodingKey]) -> String {
        path.reduce("") { text, key in
            if let index = key.intValue { return "\(text)[\(index)]" }
            return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
        }
    }

    /// The node at `path`, or the deepest one that exists, with the line of the last key found.
    static func node(at path: [any CodingKey], in root: Node) -> (node: Node, line: Int) {
        var node = root, line = root.mark?.line ?? 1
        for key in path {
            if let mapping = node.mapping, let pair = mapping.first(where: { $0.key.string == key.stringValue }) {
                (node, line) = (pair.value, pair.key.mark?.line ?? line)
            } else if let index = key.intValue, let sequence = node.sequence, sequence.indices.contains(index) {
                node = sequence[index]
                line = node.mark?.line ?? line
            } else {
                break
            }
        }
        return (node, line)
    }

    static func describe(_ type: Any.Type) -> String {
        switch String(describing: type) {
        case let name where name.contains("Mapping"): "a mapping of keys"
        case let name where name.contains("Sequence") || name.hasPrefix("Array"): "a list"
        case "String": "text"
        default: "a value of type \(type)"
        }
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}
