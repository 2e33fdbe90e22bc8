import Foundation
import Tensors

/// Reads PyTorch checkpoints without Python: `torch.save` zip files (`.pth`, `.pt`), the legacy
/// pre-1.6 `torch.save` stream, and TorchScript archives (`torch.jit.save`, e.g. OpenAI CLIP's
/// `ViT-B-16.pt`). Tensors come back under flattened dotted keys (`model.decoder.layers.0.norm1.weight`);
/// other entries (iteration counters, optimizer hyperparameters, strings) are ignored.
///
/// The pickles are decoded by a restricted unpickler that executes nothing and refuses any
/// global outside a short allowlist (see `Unpickler`).
public enum Checkpoint {
    /// Which of a checkpoint's tensors to take.
    public enum Scope: Sendable {
        /// Every tensor in the file, under its full dotted key (`model.decoder.…`,
        /// `trainer.optimizer.state.0.exp_avg`).
        case everything
        /// A training checkpoint's model: detectron2's (fvcore's) `Checkpointer` saves
        /// `{"model": state_dict, "trainer": {...optimizer...}, "iteration": n}`, and only the state
        /// dict's tensors are taken, under the state dict's own keys. A file whose top level is
        /// not a dict with a `model` dict (a bare state dict, a TorchScript module) is taken whole.
        case modelStateDict
    }

    /// The checkpoint's tensors as Float32. With `stripPrefix` (e.g. `"model."`), only keys
    /// under that prefix are kept, with the prefix removed.
    public static func read(_ url: URL, stripPrefix: String? = nil, scope: Scope = .everything) throws -> [String: Tensor] {
        let (archive, tensors) = try open(url, stripPrefix: stripPrefix, scope: scope)
        var result: [String: Tensor] = [:]
        for (name, key, tensor) in tensors {
            result[name] = try archive.withStorageBytes(tensor.storage) { bytes in
                try tensor.floatTensor(storageBytes: bytes, key: key, file: url.path)
            }
        }
        return result
    }

    /// The checkpoint's tensors in their stored dtypes.
    public static func readStored(_ url: URL, stripPrefix: String? = nil, scope: Scope = .everything) throws -> [String: CheckpointTensor] {
        let (archive, tensors) = try open(url, stripPrefix: stripPrefix, scope: scope)
        var result: [String: CheckpointTensor] = [:]
        for (name, key, tensor) in tensors {
            result[name] = try archive.withStorageBytes(tensor.storage) { bytes in
                try tensor.materialize(storageBytes: bytes, key: key, file: url.path)
            }
        }
        return result
    }

    /// The decoded archive and its tensors as (output name, key, view), scope and prefix applied;
    /// a tensor reachable twice (TorchScript shares modules) is listed once.
    private static func open(_ url: URL, stripPrefix: String?, scope: Scope) throws -> (StorageArchive, [(String, String, TorchTensor)]) {
        let file = url.path
        let archive: StorageArchive
        let mapping: MappedFile
        do {
            mapping = try MappedFile(url: url)
        } catch {
            throw CheckpointError.unreadable(file: file, reason: "\(error)")
        }
        if ZipArchive.isZip(mapping.bytes) {
            archive = try ZipStorageArchive(url: url)
        } else if LegacyCheckpoint.isLegacy(mapping.bytes) {
            archive = try LegacyCheckpoint(mapping: mapping, file: file)
        } else if mapping.count < 4 {
            throw CheckpointError.notACheckpoint(file: file, reason: "\(mapping.count) bytes is too short")
        } else {
            throw CheckpointError.notACheckpoint(file: file, reason: "neither a zip archive nor a legacy torch.save stream")
        }

        var found: [(key: String, tensor: TorchTensor)] = []
        let root = scope == .modelStateDict ? modelStateDict(in: archive.root) ?? archive.root : archive.root
        try flatten(root, prefix: "", into: &found, classes: archive.moduleClasses, depth: 0, file: file)
        var seen: Set<String> = []
        var tensors: [(String, String, TorchTensor)] = []
        for (key, tensor) in found {
            var name = key
            if let stripPrefix, !stripPrefix.isEmpty {
                guard key.hasPrefix(stripPrefix) else { continue }
                name = String(key.dropFirst(stripPrefix.count))
            }
            guard seen.insert(name).inserted else { continue }
            tensors.append((name, key, tensor))
        }
        return (archive, tensors)
    }

    /// The `model` entry of a top-level dict, when it is a dict (a training checkpoint's state dict).
    private static func modelStateDict(in root: PickleValue) -> PickleValue? {
        guard case let .dict(top) = root,
              let model = top.items.first(where: { if case .string("model") = $0.key { true } else { false } })?.value,
              case .dict = model else { return nil }
        return model
    }

    /// Collects tensors under dotted keys: dict keys, and for TorchScript modules the attribute
    /// names (only declared parameters and buffers when the archive's code declares them).
    private static func flatten(_ value: PickleValue, prefix: String, into found: inout [(key: String, tensor: TorchTensor)],
                                classes: [String: TorchScriptClass], depth: Int, file: String) throws {
        guard depth < 200 else {
            throw CheckpointError.notACheckpoint(file: file, reason: "objects nested more than 200 levels deep at '\(prefix)'")
        }
        func join(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
        switch value {
        case let .tensor(tensor):
            found.append((prefix, tensor))
        case let .dict(dict):
            for (key, item) in dict.items {
                let name: String
                switch key {
                case let .string(text): name = text
                case let .int(number): name = String(number)
                default: continue
                }
                try flatten(item, prefix: join(name), into: &found, classes: classes, depth: depth + 1, file: file)
            }
        case let .object(object):
            guard case let .dict(attributes) = object.state else { return }
            let declared = classes[object.className]
            for (key, item) in attributes.items {
                guard case let .string(name) = key else { continue }
                if case .tensor = item, let declared, !declared.stateNames.contains(name) { continue }
                try flatten(item, prefix: join(name), into: &found, classes: classes, depth: depth + 1, file: file)
            }
        case let .list(list) where !list.items.isEmpty:
            for (i, item) in list.items.enumerated() {
                try flatten(item, prefix: join(String(i)), into: &found, classes: classes, depth: depth + 1, file: file)
            }
        case let .tuple(items):
            for (i, item) in items.enumerated() {
                try flatten(item, prefix: join(String(i)), into: &found, classes: classes, depth: depth + 1, file: file)
            }
        default:
            break
        }
    }
}

/// A decoded checkpoint: the unpickled root and access to each storage's bytes.
protocol StorageArchive {
    var root: PickleValue { get }
    /// TorchScript class declarations by qualified name (empty for plain checkpoints).
    var moduleClasses: [String: TorchScriptClass] { get }
    func withStorageBytes<R>(_ storage: TorchStorage, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
}

/// `torch.save` (zip) and `torch.jit.save` archives: `<name>/data.pkl` and `<name>/data/<key>`.
final class ZipStorageArchive: StorageArchive {
    let root: PickleValue
    let moduleClasses: [String: TorchScriptClass]
    private let archive: ZipArchive
    private let prefix: String

    init(url: URL) throws {
        archive = try ZipArchive(url: url)
        let file = archive.file
        let candidates = archive.entries.map(\.name).filter {
            $0.hasSuffix("/data.pkl") && $0.split(separator: "/", omittingEmptySubsequences: false).count == 2
        }
        guard let pickle = candidates.first else {
            throw CheckpointError.notACheckpoint(file: file, reason: "the zip archive has no '<name>/data.pkl' entry")
        }
        prefix = String(pickle.dropLast("data.pkl".count))
        var storages: [String: TorchStorage] = [:]
        let data = try archive.contents(of: pickle, verifyChecksum: true)
        root = try data.withBytes { bytes in
            var unpickler = Unpickler(bytes: bytes, file: file) { id in
                try Self.storage(from: id, file: file, cache: &storages)
            }
            return try unpickler.load()
        }
        moduleClasses = try TorchScriptClass.declarations(in: archive, prefix: prefix)
    }

    /// `('storage', torch.HalfStorage, '<key>', '<location>', <numel>)`.
    static func storage(from id: PickleValue, file: String, cache: inout [String: TorchStorage]) throws -> PickleValue {
        guard case let .tuple(fields) = id, fields.count == 5, case .string("storage") = fields[0],
              case let .global(type) = fields[1], case let .string(key) = fields[2], case let .int(count) = fields[4] else {
            throw CheckpointError.notACheckpoint(file: file, reason: "unexpected persistent id \(id)")
        }
        return try StorageTypes.storage(type: type, key: key, count: count, file: file, cache: &cache)
    }

    func withStorageBytes<R>(_ storage: TorchStorage, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try archive.contents(of: prefix + "data/" + storage.key).withBytes(body)
    }
}
