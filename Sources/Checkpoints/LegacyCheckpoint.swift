import Foundation
import Tensors

/// The pre-1.6 `torch.save` stream (`_use_new_zipfile_serialization=False`): five pickles back
/// to back (magic number, protocol version, system info, the object, the storage keys), then
/// each storage as an int64 element count followed by its raw bytes.
final class LegacyCheckpoint: StorageArchive {
    let root: PickleValue
    let moduleClasses: [String: TorchScriptClass] = [:]
    private let mapping: MappedFile
    private var ranges: [String: Range<Int>] = [:]

    /// PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, torch's legacy magic number.
    private static let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    static func isLegacy(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= magic.count && Array(bytes[0..<magic.count]) == magic
    }

    init(mapping: MappedFile, file: String) throws {
        self.mapping = mapping
        let bytes = mapping.bytes
        var offset = 0
        var storages: [String: TorchStorage] = [:]
        func next() throws -> PickleValue {
            var unpickler = Unpickler(bytes: UnsafeRawBufferPointer(rebasing: bytes[offset...]), file: file) { id in
                try Self.storage(from: id, file: file, cache: &storages)
            }
            defer { offset += unpickler.endOffset }
            return try unpickler.load()
        }
        _ = try next()  // magic number
        guard case .int(1001) = try next() else {
            throw CheckpointError.notACheckpoint(file: file, reason: "unsupported legacy protocol version")
        }
        _ = try next()  // system info (byte order, type sizes)
        root = try next()
        guard case let .list(keys) = try next() else {
            throw CheckpointError.notACheckpoint(file: file, reason: "legacy storage key list is missing")
        }
        for item in keys.items {
            guard case let .string(key) = item, let storage = storages[key] else {
                throw CheckpointError.notACheckpoint(file: file, reason: "legacy storage key \(item) was never referenced")
            }
            guard offset <= bytes.count - 8 else { throw CheckpointError.notACheckpoint(file: file, reason: "storage '\(key)' is cut short") }
            let count = Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
            offset += 8
            let (length, overflow) = count.multipliedReportingOverflow(by: storage.dtype.byteSize)
            guard count >= 0, !overflow, length <= bytes.count - offset else {
                throw CheckpointError.notACheckpoint(file: file, reason: "storage '\(key)' is cut short")
            }
            ranges[key] = offset..<(offset + length)
            offset += length
        }
    }

    /// `('storage', torch.FloatStorage, '<key>', '<location>', <numel>, <view metadata>)`.
    private static func storage(from id: PickleValue, file: String, cache: inout [String: TorchStorage]) throws -> PickleValue {
        guard case let .tuple(fields) = id, fields.count == 6, case .string("storage") = fields[0],
              case let .global(type) = fields[1], case let .string(key) = fields[2], case let .int(count) = fields[4] else {
            throw CheckpointError.notACheckpoint(file: file, reason: "unexpected legacy persistent id \(id)")
        }
        guard case .none = fields[5] else {
            throw CheckpointError.notACheckpoint(file: file, reason: "legacy storage views (torch < 0.4) are not supported")
        }
        return try StorageTypes.storage(type: type, key: key, count: count, file: file, cache: &cache)
    }

    func withStorageBytes<R>(_ storage: TorchStorage, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let range = ranges[storage.key] else {
            throw CheckpointError.notACheckpoint(file: mapping.url.path, reason: "storage '\(storage.key)' has no data")
        }
        return try body(UnsafeRawBufferPointer(rebasing: mapping.bytes[range]))
    }
}
