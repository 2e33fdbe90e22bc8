import Compression
import Foundation

/// Images whose header lies about their size, as decompression bombs do.
public enum DecompressionBomb {
    /// `png` with its IHDR claiming `width` × `height` pixels (and a CRC that matches, so only the
    /// size gives it away); the pixel data is left as it was.
    public static func png(from png: Data, width: UInt32 = 100_000, height: UInt32 = 100_000) -> Data {
        var bytes = [UInt8](png)
        // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4), 5 more fields, CRC.
        withUnsafeBytes(of: width.bigEndian) { bytes.replaceSubrange(16..<20, with: $0) }
        withUnsafeBytes(of: height.bigEndian) { bytes.replaceSubrange(20..<24, with: $0) }
        let crc = bytes[12..<29].withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: crc.bigEndian) { bytes.replaceSubrange(29..<33, with: $0) }
        return Data(bytes)
    }
}
