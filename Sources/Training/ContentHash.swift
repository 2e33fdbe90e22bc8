import Compression
import Foundation
import Tensors

/// A 64-bit fingerprint of files and settings: FNV-1a over the CRC-32 of each 64 MB block of
/// each file (CRC runs at memory speed, so hashing a 1.7 GB CLIP file costs about a second).
/// It keys the feature cache, so any change of the encoders' bytes gives a new key.
struct ContentHash {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01B3
        }
    }

    mutating func add(_ text: String) {
        var text = text + "\u{0}"
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    mutating func add(_ number: UInt64) { withUnsafeBytes(of: number.littleEndian) { add($0) } }

    /// The file's size and the CRC of every block.
    mutating func add(file url: URL) throws {
        let mapped = try MappedFile(url: url, sequential: true)
        let block = 64 << 20
        add(UInt64(mapped.count))
        for start in stride(from: 0, to: mapped.count, by: block) {
            let part = UnsafeRawBufferPointer(rebasing: mapped.bytes[start..<min(mapped.count, start + block)])
            add(UInt64(CRC32.checksum(part)))
        }
    }

    var hex: String { String(format: "%016llx", value) }
}
