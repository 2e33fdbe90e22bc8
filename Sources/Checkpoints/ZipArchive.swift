import Foundation
import Compression
import Tensors

/// A read-only zip archive over a memory-mapped file: the central directory (ZIP64 included,
/// for checkpoints over 4 GB), stored entries as slices of the mapping, deflated ones inflated.
/// PyTorch writes stored entries, so tensor data is never copied until it is converted.
final class ZipArchive {
    struct Entry {
        let name: String
        let method: Int
        let compressedSize: Int
        let size: Int
        let crc32: UInt32
        let localHeaderOffset: Int
    }

    let file: String
    let mapping: MappedFile
    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    init(url: URL) throws {
        file = url.path
        do {
            mapping = try MappedFile(url: url)
        } catch {
            throw CheckpointError.unreadable(file: url.path, reason: "\(error)")
        }
        entries = try Self.readDirectory(mapping.bytes, file: file)
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.name] = i }
        self.index = index
    }

    static func isZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self) == 0x0403_4b50
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry's bytes: a view of the mapping if stored, a fresh buffer if deflated.
    /// The view stays valid as long as this archive.
    func contents(of name: String, verifyChecksum: Bool = false) throws -> ZipData {
        guard let entry = entry(named: name) else { throw CheckpointError.missingEntry(file: file, entry: name) }
        return try contents(of: entry, verifyChecksum: verifyChecksum)
    }

    func contents(of entry: Entry, verifyChecksum: Bool) throws -> ZipData {
        let bytes = mapping.bytes
        let local = entry.localHeaderOffset
        guard local >= 0, local <= bytes.count - 30, bytes.loadUnaligned(fromByteOffset: local, as: UInt32.self) == 0x0403_4b50 else {
            throw CheckpointError.corruptZip(file: file, reason: "local header of '\(entry.name)' is missing")
        }
        let nameLength = Int(bytes.loadUnaligned(fromByteOffset: local + 26, as: UInt16.self))
        let extraLength = Int(bytes.loadUnaligned(fromByteOffset: local + 28, as: UInt16.self))
        let start = local + 30 + nameLength + extraLength
        guard entry.compressedSize >= 0, start <= bytes.count, entry.compressedSize <= bytes.count - start else {
            throw CheckpointError.corruptZip(file: file, reason: "data of '\(entry.name)' runs past the end of the file")
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + entry.compressedSize)])
        let data: ZipData
        switch entry.method {
        case 0:
            guard entry.size == entry.compressedSize else {
                throw CheckpointError.corruptZip(file: file, reason: "stored entry '\(entry.name)' has differing sizes")
            }
            data = .view(raw)
        case 8:
            let inflated: [UInt8]
            do {
                inflated = try Inflate.decompress(raw, expectedSize: entry.size)
            } catch let error as Inflate.Failure {
                throw CheckpointError.corruptZip(file: file, reason: "entry '\(entry.name)': \(error.reason)")
            }
            guard inflated.count == entry.size else {
                throw CheckpointError.corruptZip(file: file, reason: "entry '\(entry.name)' inflates to \(inflated.count) bytes, expected \(entry.size)")
            }
            data = .owned(inflated)
        default:
            throw CheckpointError.unsupportedCompression(file: file, entry: entry.name, method: entry.method)
        }
        if verifyChecksum || entry.method != 0 {
            let crc = data.withBytes { CRC32.checksum($0) }
            guard crc == entry.crc32 else {
                throw CheckpointError.corruptZip(file: file, reason: "checksum mismatch in '\(entry.name)'")
            }
        }
        return data
    }

    // MARK: - Central directory

    private static func readDirectory(_ bytes: UnsafeRawBufferPointer, file: String) throws -> [Entry] {
        func corrupt(_ reason: String) -> CheckpointError { .corruptZip(file: file, reason: reason) }
        func u16(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func u32(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) throws -> Int {
            let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            guard value <= UInt64(Int.max) else { throw corrupt("64-bit field out of range") }
            return Int(value)
        }

        // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
        guard bytes.count >= 22 else { throw corrupt("\(bytes.count) bytes is too short for a zip file") }
        var end = -1
        var candidate = bytes.count - 22
        while candidate >= max(0, bytes.count - 22 - 65535) {
            if u32(candidate) == 0x0605_4b50 { end = candidate; break }
            candidate -= 1
        }
        guard end >= 0 else { throw corrupt("no end-of-central-directory record (file cut short?)") }
        var count = u16(end + 10)
        var directorySize = u32(end + 12)
        var directoryOffset = u32(end + 16)
        // ZIP64: a locator just before the record points at the 64-bit record.
        if end >= 20, u32(end - 20) == 0x0706_4b50 {
            let record = try u64(end - 20 + 8)
            guard record >= 0, record <= bytes.count - 56, u32(record) == 0x0606_4b50 else {
                throw corrupt("ZIP64 end record is missing")
            }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryOffset = try u64(record + 48)
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw corrupt("central directory lies outside the file")
        }

        var entries: [Entry] = []
        var position = directoryOffset
        for _ in 0..<count {
            guard position <= bytes.count - 46, u32(position) == 0x0201_4b50 else {
                throw corrupt("central directory entry \(entries.count) is damaged")
            }
            let method = u16(position + 10)
            let crc = UInt32(u32(position + 16))
            var compressedSize = u32(position + 20)
            var size = u32(position + 24)
            let nameLength = u16(position + 28)
            let extraLength = u16(position + 30)
            let commentLength = u16(position + 32)
            var localOffset = u32(position + 42)
            let nameStart = position + 46
            guard nameStart + nameLength + extraLength + commentLength <= bytes.count else {
                throw corrupt("central directory entry \(entries.count) runs past the end of the file")
            }
            let name = String(decoding: bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)
            // ZIP64 extra field: 64-bit values for whichever 32-bit fields are saturated, in order.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = u16(extra)
                let length = u16(extra + 2)
                var field = extra + 4
                if tag == 0x0001 {
                    func next() throws -> Int {
                        guard field + 8 <= extra + 4 + length else { throw corrupt("ZIP64 field of '\(name)' is short") }
                        defer { field += 8 }
                        return try u64(field)
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                extra += 4 + length
            }
            entries.append(Entry(name: name, method: method, compressedSize: compressedSize, size: size,
                                 crc32: crc, localHeaderOffset: localOffset))
            position = extraEnd + commentLength
        }
        return entries
    }
}

/// Bytes of a zip entry: borrowed from the mapping, or owned after inflating.
enum ZipData {
    case view(UnsafeRawBufferPointer)
    case owned([UInt8])

    var count: Int {
        switch self {
        case let .view(bytes): return bytes.count
        case let .owned(bytes): return bytes.count
        }
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case let .view(bytes): return try body(bytes)
        case let .owned(bytes): return try bytes.withUnsafeBytes(body)
        }
    }
}
