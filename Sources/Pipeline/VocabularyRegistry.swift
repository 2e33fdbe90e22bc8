import Foundation
import Logging
import PipelineProtocol
import Synchronization
import Tensors

/// A vocabulary registered with `RegisterVocabulary`: its class names and their embeddings.
public struct RegisteredVocabulary: Sendable {
    public let name: String
    public let classNames: [String]
    /// Empty: the bundle's templates.
    public let templates: [String]
    /// [classes, text dim], L2-normalised rows.
    public let embeddings: Tensor
}

/// The daemon's registered vocabularies, by name: computed once (`register`, on a thread of the
/// broker's own, never its loop), kept in memory and, given a directory, on disk across restarts
/// as `NAME.safetensors` ("class_embeddings" and the names, templates and model id in its
/// metadata), written atomically. The directory is the model's own (`vocabularies/MODEL_ID`), and
/// a file whose model id differs is ignored, so no other bundle's embeddings are ever used.
public final class VocabularyRegistry: Sendable {
    /// Class names and templates (nil: the bundle's) → [classes, text dim]; `progress` hears the
    /// classes done so far.
    public typealias Embed = @Sendable (_ classNames: [String], _ templates: [String]?, _ progress: (Int) -> Void) throws -> Tensor

    static let maxNameLength = 128
    static let fileExtension = "safetensors"

    let directory: URL?
    let modelID: String
    let embed: Embed
    private let vocabularies = Mutex<[String: RegisteredVocabulary]>([:])

    /// Reads the vocabularies registered before from `directory` (nil: memory only); a file that
    /// cannot be read is reported through `logger` and skipped.
    public init(directory: URL?, modelID: String, logger: Logger, embed: @escaping Embed) throws {
        self.directory = directory
        self.modelID = modelID
        self.embed = embed
        guard let directory else { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == Self.fileExtension }.sorted { $0.path < $1.path }
        var loaded: [String: RegisteredVocabulary] = [:]
        for file in files {
            do {
                let vocabulary = try Self.read(file, modelID: modelID)
                loaded[vocabulary.name] = vocabulary
            } catch {
                logger.warning("vocabulary file ignored", metadata: ["file": "\(file.path)", "error": "\(error)"])
            }
        }
        vocabularies.withLock { $0 = loaded }
    }

    public var names: [String] { vocabularies.withLock { $0.keys.sorted() } }

    public func vocabulary(named name: String) -> RegisteredVocabulary? {
        vocabularies.withLock { $0[name] }
    }

    /// Computes, stores and publishes a vocabulary (replacing one of the same name). Slow for long
    /// vocabularies: call it off any loop.
    func register(name: String, classNames: [String], templates: [String], progress: (Int) -> Void) throws -> RegisteredVocabulary {
        let embeddings = try embed(classNames, templates.isEmpty ? nil : templates, progress)
        let vocabulary = RegisteredVocabulary(name: name, classNames: classNames, templates: templates, embeddings: embeddings)
        if let directory {
            let metadata = ["name": name, "class_names": try Self.json(classNames), "templates": try Self.json(templates), "model_id": modelID]
            try AtomicFile.write(SafeTensors.encode(["class_embeddings": embeddings], metadata: metadata),
                                 to: directory.appendingPathComponent("\(name).\(Self.fileExtension)"))
        }
        vocabularies.withLock { $0[name] = vocabulary }
        return vocabulary
    }

    /// What a registration must hold: a name of 1-128 letters, digits, '.', '-' or '_' (a file
    /// name that stays in its directory), class names as a request's, templates with one "{}" each.
    static func check(_ request: Regionspot_V1_RegisterVocabularyRequest, limits: PipelineConfiguration.Limits) -> RequestRefusal? {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        let name = request.name
        guard (1...maxNameLength).contains(name.count), name.unicodeScalars.allSatisfy(allowed.contains), name != ".", name != ".." else {
            return RequestRefusal(.invalidArgument, "name: '\(name.prefix(maxNameLength))' must be 1-\(maxNameLength) letters, digits, '.', '-' or '_'")
        }
        if request.classNames.isEmpty {
            return RequestRefusal(.invalidArgument, "class_names: empty (give at least one class)")
        }
        if let refusal = RequestValidation.check(classNames: request.classNames, field: "class_names", limits: limits) {
            return refusal
        }
        for (index, template) in request.templates.enumerated() where template.components(separatedBy: "{}").count != 2 {
            return RequestRefusal(.invalidArgument, "templates[\(index)]: '\(template.prefix(200))' must contain exactly one {}")
        }
        return nil
    }

    private static func read(_ file: URL, modelID: String) throws -> RegisteredVocabulary {
        let decoded = try SafeTensors.decode(Data(contentsOf: file), source: file.path)
        guard decoded.metadata["model_id"] == modelID else {
            throw RequestRefusal(.failedPrecondition, "computed by another model (\(decoded.metadata["model_id"] ?? "none"), this one is \(modelID))")
        }
        guard let name = decoded.metadata["name"], file.deletingPathExtension().lastPathComponent == name,
              let classNames = try strings(decoded.metadata["class_names"]), let templates = try strings(decoded.metadata["templates"]),
              let embeddings = decoded.tensors["class_embeddings"], embeddings.rank == 2, embeddings.dim(0) == classNames.count else {
            throw RequestRefusal(.dataLoss, "metadata name, class_names, templates or tensor class_embeddings [classes, E] missing or inconsistent")
        }
        return RegisteredVocabulary(name: name, classNames: classNames, templates: templates, embeddings: embeddings)
    }

    private static func json(_ strings: [String]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: strings), as: UTF8.self)
    }

    private static func strings(_ text: String?) throws -> [String]? {
        guard let text else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
    }
}
