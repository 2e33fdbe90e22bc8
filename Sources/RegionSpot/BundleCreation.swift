import CLIP
import Checkpoints
import Foundation
import Tensors

/// `regionspot models create`: a bundle from the three downloads as they are published
/// (segment-anything's `sam_vit_b_01ec64.pth`, OpenAI's TorchScript `ViT-L-14-336px.pt`,
/// RegionSpot's detectron2 checkpoint `regionspot_bl_336.pth`) or from safetensors files.
/// Each part becomes a safetensors file in the bundle; the CLIP input size is the one CLIP's
/// positional embedding was trained at and the logit scale is exp(CLIP's `logit_scale`), as
/// RegionSpot's `build_regionspot_model` takes them. The parts are loaded and checked to fit
/// (`BundleCheck`) before the manifest is written, so a refused combination leaves no bundle
/// (and none of the files this run added).
public enum BundleCreation {
    public struct Parts: Sendable {
        public var sam: URL
        public var clip: URL
        public var fusion: URL

        public init(sam: URL, clip: URL, fusion: URL) {
            self.sam = sam
            self.clip = clip
            self.fusion = fusion
        }
    }

    /// Writes the bundle into `directory` (created if needed; a rerun rewrites the same files)
    /// and returns `models check`'s report on it. `half` stores the weights as F16;
    /// `clipInputSize` overrides the size inferred from CLIP's weights.
    public static func create(_ parts: Parts, in directory: URL, name: String? = nil, half: Bool = false,
                              clipInputSize: Int? = nil) throws -> BundleCheck {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let precision: Checkpoint.Precision = half ? .float16 : .float32
        // Files this run adds, removed again when the parts are refused: no half-made bundle stays.
        var added: [URL] = []
        do {
            let sam = try store(parts.sam, in: directory, precision: precision, added: &added)
            let clip = try store(parts.clip, in: directory, precision: precision, added: &added)
            let fusion = try store(parts.fusion, in: directory, precision: precision, rename: fusionKey, added: &added)
            let clipURL = directory.appendingPathComponent(clip)
            let clipWeights = try WeightLoader(file: clipURL)
            guard let vision = try CLIPConfiguration.infer(from: clipWeights, file: clipURL.path).vision else {
                throw BundleCreationError.noVisionTower(file: parts.clip.path)
            }
            var manifest = ModelBundle.Manifest(name: name, sam: .init(weights: sam),
                                                clip: .init(weights: clip, inputSize: clipInputSize ?? vision.imageSize),
                                                fusion: .init(weights: fusion))
            manifest.logitScale = try ModelBundle(directory: directory, manifest: manifest).logitScale()
            let check = try BundleCheck.run(ModelBundle(directory: directory, manifest: manifest))
            try ModelBundle.write(manifest, to: directory)
            return check
        } catch {
            for url in added { try? FileManager.default.removeItem(at: url) }
            throw error
        }
    }

    /// The fusion head's own tensors under RegionSpot's keys: detectron2 saves the whole module,
    /// `model.` + `to_clip.*`, `decoder.*`, `projector.*` beside the frozen `model.sam.*` and
    /// `model.clip_model.*`, which the bundle takes from its own SAM and CLIP files instead.
    static func fusionKey(_ key: String) -> String? {
        let name = key.hasPrefix("model.") ? String(key.dropFirst("model.".count)) : key
        return ["to_clip.", "decoder.", "projector."].contains(where: name.hasPrefix) ? name : nil
    }

    /// Converts (or copies) one part into the bundle as `<its name>.safetensors`; returns that name.
    private static func store(_ source: URL, in directory: URL, precision: Checkpoint.Precision,
                              rename: ((String) -> String?)? = nil, added: inout [URL]) throws -> String {
        guard FileManager.default.fileExists(atPath: source.path) else { throw BundleCreationError.missing(file: source.path) }
        let name = source.deletingPathExtension().lastPathComponent + ".safetensors"
        let target = directory.appendingPathComponent(name)
        if !FileManager.default.fileExists(atPath: target.path) { added.append(target) }
        guard source.pathExtension.lowercased() == "safetensors" else {
            try Checkpoint.convert(source, to: target, precision: precision, rename: rename)
            return name
        }
        let inPlace = source.standardizedFileURL.resolvingSymlinksInPath() == target.standardizedFileURL.resolvingSymlinksInPath()
        if rename == nil && precision == .float32 {
            if !inPlace { try copy(source, to: target) }
            return name
        }
        // Read whole before the atomic write, so that rewriting the bundle's own file is safe too.
        var tensors = try SafeTensorsFile(url: source).tensors()
        if let rename {
            var renamed: [String: Tensor] = [:]
            for key in tensors.keys.sorted() {  // sorted: the same key wins every time
                if let name = rename(key), renamed[name] == nil { renamed[name] = tensors[key] }
            }
            tensors = renamed
        }
        try SafeTensors.write(tensors, to: target, dtype: precision == .float16 ? .f16 : .f32)
        return name
    }

    /// A copy made beside the target, then renamed over it: the target is never partial.
    private static func copy(_ source: URL, to target: URL) throws {
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        try FileManager.default.copyItem(at: source, to: temporary)
        guard rename(temporary.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw BundleCreationError.unwritable(file: target.path, reason: reason)
        }
        synchronizeDirectory(of: target)
    }
}

public enum BundleCreationError: Error, CustomStringConvertible, Equatable {
    case missing(file: String)
    case noVisionTower(file: String)
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(file): return "\(file): no such file"
        case let .noVisionTower(file): return "\(file): not a CLIP with a vision tower (no visual.conv1.weight)"
        case let .unwritable(file, reason): return "\(file): cannot write: \(reason)"
        }
    }
}
