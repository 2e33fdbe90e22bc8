import Foundation

/// Resolves model weights by dotted key under a prefix, the way candle's `VarBuilder` does:
/// `loader.scoped("image_encoder").scoped("blocks").scoped(3).tensor("weight", shape: [768, 768])`
/// reads `image_encoder.blocks.3.weight`. Errors name the file, the full key and both shapes.
///
/// Scoped copies share one store that records which keys were read, so after building a model
/// `loader.unusedKeys()` lists the checkpoint tensors the model never asked for.
public struct WeightLoader: Sendable {
    /// Maps a key as stored in a file to the key the model asks for; nil drops the tensor.
    public typealias Rename = @Sendable (String) -> String?

    public let prefix: String
    private let store: Store

    /// Loads from safetensors files; later files may not repeat keys of earlier ones.
    public init(files: [URL], rename: Rename? = nil) throws {
        var sources: [String: Store.Source] = [:]
        for url in files {
            let file = try SafeTensorsFile(url: url)
            for name in file.names {
                guard let key = rename.map({ $0(name) }) ?? name else { continue }
                guard sources[key] == nil else { throw TensorFileError.duplicateKey(file: url.path, key: key) }
                sources[key] = .file(file, name)
            }
        }
        self.init(store: Store(sources: sources, origin: files.map(\.path).joined(separator: ", ")), prefix: "")
    }

    public init(file: URL, rename: Rename? = nil) throws {
        try self.init(files: [file], rename: rename)
    }

    /// Loads from tensors already in memory (tests, converted checkpoints).
    public init(tensors: [String: Tensor], rename: Rename? = nil) throws {
        var sources: [String: Store.Source] = [:]
        for (name, tensor) in tensors {
            guard let key = rename.map({ $0(name) }) ?? name else { continue }
            guard sources[key] == nil else { throw TensorFileError.duplicateKey(file: "<memory>", key: key) }
            sources[key] = .memory(tensor)
        }
        self.init(store: Store(sources: sources, origin: "<memory>"), prefix: "")
    }

    private init(store: Store, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    public func scoped(_ name: String) -> WeightLoader {
        WeightLoader(store: store, prefix: key(name))
    }

    public func scoped(_ index: Int) -> WeightLoader { scoped(String(index)) }

    /// The full key for `name` under this scope.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : name.isEmpty ? prefix : prefix + "." + name }

    public func contains(_ name: String) -> Bool { store.sources[key(name)] != nil }

    /// The tensor `name`, checked against `shape` when given.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        let fullKey = key(name)
        guard let source = store.sources[fullKey] else {
            throw TensorFileError.missingTensor(file: store.origin, key: fullKey)
        }
        let (origin, actualShape): (String, [Int])
        switch source {
        case let .file(file, name): (origin, actualShape) = (file.url.path, file.info(name)!.shape)
        case let .memory(tensor): (origin, actualShape) = ("<memory>", tensor.shape)
        }
        if let shape, shape != actualShape {
            throw TensorFileError.shapeMismatch(file: origin, key: fullKey, expected: shape, actual: actualShape)
        }
        store.markRead(fullKey)
        switch source {
        case let .file(file, name): return try file.tensor(named: name)
        case let .memory(tensor): return tensor
        }
    }

    /// The tensor if present (checked against `shape`), nil otherwise.
    public func optionalTensor(_ name: String, shape: [Int]? = nil) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// The stored shape of `name`, without reading it.
    public func shape(of name: String) -> [Int]? {
        switch store.sources[key(name)] {
        case let .file(file, stored)?: return file.info(stored)?.shape
        case let .memory(tensor)?: return tensor.shape
        case nil: return nil
        }
    }

    /// Full keys under this scope, sorted.
    public var keys: [String] {
        store.sources.keys.filter(isUnderScope).sorted()
    }

    /// Full keys under this scope that no `tensor` call has read yet, sorted.
    public func unusedKeys() -> [String] {
        let read = store.readKeys()
        return keys.filter { !read.contains($0) }
    }

    /// Records keys as deliberately ignored (e.g. buffers the model recomputes).
    public func markUsed(_ names: [String]) {
        for name in names { store.markRead(key(name)) }
    }

    private func isUnderScope(_ fullKey: String) -> Bool {
        prefix.isEmpty || fullKey == prefix || fullKey.hasPrefix(prefix + ".")
    }

    /// Shared between scoped copies: the key table (immutable) and the set of keys read.
    private final class Store: @unchecked Sendable {
        enum Source { case file(SafeTensorsFile, String), memory(Tensor) }

        let sources: [String: Source]
        let origin: String
        private var read: Set<String> = []
        private let lock = NSLock()

        init(sources: [String: Source], origin: String) {
            self.sources = sources
            self.origin = origin
        }

        func markRead(_ key: String) {
            lock.lock()
            read.insert(key)
            lock.unlock()
        }

        func readKeys() -> Set<String> {
            lock.lock()
            defer { lock.unlock() }
            return read
        }
    }
}
