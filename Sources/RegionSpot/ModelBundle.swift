import CLIP
import Foundation
import Tensors

/// A model bundle: one directory holding a `regionspot.json` manifest and the safetensors files
/// it names (paths relative to the directory).
///
/// ```json
/// {
///   "format": "regionspot-bundle", "version": 1, "name": "regionspot-bb",
///   "sam":    { "weights": "sam_vit_b.safetensors" },
///   "clip":   { "weights": "clip_vit_b16.safetensors", "input_size": 224 },
///   "fusion": { "weights": "regionspot_bb.safetensors" },
///   "logit_scale": 100,
///   "templates": ["a photo of a {}.", "..."]
/// }
/// ```
/// `logit_scale` is the multiplier itself (upstream's `clip_model.logit_scale.exp()`); when
/// absent it is read from the CLIP file's `logit_scale`. `templates` (each with one `{}` for the
/// class name) default to RegionSpot's 81 (`PromptEnsemble.templates`).
public struct ModelBundle: Sendable {
    public static let manifestName = "regionspot.json"

    public struct Component: Codable, Sendable, Equatable {
        /// Safetensors file, relative to the bundle directory.
        public var weights: String
        public init(weights: String) { self.weights = weights }
    }

    public struct CLIPComponent: Codable, Sendable, Equatable {
        public var weights: String
        /// Side S of the S×S squashed image CLIP sees (224 for ViT-B/16 and L/14, 336 for L/14@336).
        public var inputSize: Int
        enum CodingKeys: String, CodingKey { case weights, inputSize = "input_size" }
        public init(weights: String, inputSize: Int) {
            self.weights = weights
            self.inputSize = inputSize
        }
    }

    public struct Manifest: Codable, Sendable, Equatable {
        public var format: String
        public var version: Int
        public var name: String?
        public var sam: Component
        public var clip: CLIPComponent
        public var fusion: Component
        public var logitScale: Float?
        public var templates: [String]?

        enum CodingKeys: String, CodingKey {
            case format, version, name, sam, clip, fusion, logitScale = "logit_scale", templates
        }

        public init(name: String?, sam: Component, clip: CLIPComponent, fusion: Component,
                    logitScale: Float? = nil, templates: [String]? = nil) {
            self.format = "regionspot-bundle"
            self.version = 1
            self.name = name
            self.sam = sam
            self.clip = clip
            self.fusion = fusion
            self.logitScale = logitScale
            self.templates = templates
        }
    }

    public let directory: URL
    public let manifest: Manifest

    public var samURL: URL { directory.appendingPathComponent(manifest.sam.weights) }
    public var clipURL: URL { directory.appendingPathComponent(manifest.clip.weights) }
    public var fusionURL: URL { directory.appendingPathComponent(manifest.fusion.weights) }
    /// Prompt templates, each with one `{}` for the class name.
    public var templates: [String] { manifest.templates ?? PromptEnsemble.templates }

    /// Reads and checks the manifest (not the weights: see `BundleCheck`).
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent(Self.manifestName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BundleError.missingManifest(directory: directory.path)
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BundleError.unreadable(file: url.path, reason: "\(error.localizedDescription)")
        }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch let error as DecodingError {
            throw BundleError.invalidManifest(file: url.path, reason: Self.describe(error))
        }
        try self.init(directory: directory, manifest: manifest)
    }

    /// A bundle whose manifest is not (yet) written: checked as if read from `directory`.
    public init(directory: URL, manifest: Manifest) throws {
        let url = directory.appendingPathComponent(Self.manifestName)
        guard manifest.format == "regionspot-bundle" else {
            throw BundleError.invalidManifest(file: url.path, reason: "format is \"\(manifest.format)\", expected \"regionspot-bundle\"")
        }
        guard manifest.version == 1 else {
            throw BundleError.invalidManifest(file: url.path, reason: "version \(manifest.version) is not supported (this build reads 1)")
        }
        guard manifest.clip.inputSize > 0 else {
            throw BundleError.invalidManifest(file: url.path, reason: "clip.input_size must be positive, got \(manifest.clip.inputSize)")
        }
        if let scale = manifest.logitScale, !(scale.isFinite && scale > 0) {
            throw BundleError.invalidManifest(file: url.path, reason: "logit_scale must be a positive number, got \(scale)")
        }
        if manifest.templates?.isEmpty == true {
            throw BundleError.invalidManifest(file: url.path, reason: "templates is empty; omit it for RegionSpot's 81 templates")
        }
        for (index, template) in (manifest.templates ?? []).enumerated()
        where template.components(separatedBy: "{}").count != 2 {
            throw BundleError.invalidManifest(file: url.path, reason: "templates[\(index)] \"\(template)\" must contain exactly one {}")
        }
        for (field, path) in [("sam.weights", manifest.sam.weights), ("clip.weights", manifest.clip.weights),
                              ("fusion.weights", manifest.fusion.weights)]
        where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(path).path) {
            throw BundleError.missingWeights(manifest: url.path, field: field, file: directory.appendingPathComponent(path).path)
        }
        self.directory = directory
        self.manifest = manifest
    }

    /// Writes `manifest` into `directory` (created if needed).
    public static func write(_ manifest: Manifest, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(manifest).write(to: directory.appendingPathComponent(manifestName), options: .atomic)
    }

    /// The fusion head's weights.
    public func fusionWeights() throws -> WeightLoader { try WeightLoader(file: fusionURL) }

    /// The logit multiplier: the manifest's, else exp(`logit_scale`) from the CLIP file.
    public func logitScale() throws -> Float {
        if let scale = manifest.logitScale { return scale }
        let clip = try SafeTensorsFile(url: clipURL)
        guard clip.contains("logit_scale") else {
            throw BundleError.noLogitScale(manifest: directory.appendingPathComponent(Self.manifestName).path, clipFile: clipURL.path)
        }
        let stored = try clip.tensor(named: "logit_scale")
        guard stored.count == 1 else {
            throw BundleError.noLogitScale(manifest: directory.appendingPathComponent(Self.manifestName).path, clipFile: clipURL.path)
        }
        return Foundation.exp(stored.scalars[0])
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "top level" : keys.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context):
            return "missing field \"\(key.stringValue)\" at \(path(context))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case let .dataCorrupted(context):
            return "not valid JSON at \(path(context)): \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

public enum BundleError: Error, CustomStringConvertible, Equatable {
    case missingManifest(directory: String)
    case unreadable(file: String, reason: String)
    case invalidManifest(file: String, reason: String)
    case missingWeights(manifest: String, field: String, file: String)
    case noLogitScale(manifest: String, clipFile: String)
    case unexpectedTensors(file: String, keys: [String])

    public var description: String {
        switch self {
        case let .missingManifest(directory):
            return "\(directory): not a model bundle (no \(ModelBundle.manifestName))"
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .invalidManifest(file, reason):
            return "\(file): \(reason)"
        case let .missingWeights(manifest, field, file):
            return "\(manifest): \(field) names \(file), which does not exist"
        case let .noLogitScale(manifest, clipFile):
            return "\(manifest): no logit_scale, and \(clipFile) has no scalar tensor logit_scale to take it from"
        case let .unexpectedTensors(file, keys):
            let shown = keys.prefix(5).joined(separator: ", ")
            return "\(file): \(keys.count) tensor(s) the fusion head does not use: \(shown)\(keys.count > 5 ? ", …" : "")"
        }
    }
}
