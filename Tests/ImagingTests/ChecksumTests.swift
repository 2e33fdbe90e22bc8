import Foundation
import Imaging
import Testing

/// The image probe checks each PNG chunk's CRC-32 (CChecksum, the function zip and gzip use)
/// and names the chunk that fails.
@Test func pngChunkWithABadChecksumIsNamed() throws {
    let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 13) })
    var png = [UInt8](try image.encoded(as: .png))
    #expect(try RGBImage(decoding: Data(png), source: "good.png") == image)

    // Chunks follow the 8-byte signature as length, type, payload, CRC; find IDAT's.
    var position = 8
    while String(decoding: png[(position + 4)..<(position + 8)], as: UTF8.self) != "IDAT" {
        let length = png[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
        position += 12 + length
    }
    png[position + 8] ^= 0x01
    let error = #expect(throws: ImageError.self) { try RGBImage(decoding: Data(png), source: "flipped.png") }
    #expect(error?.kind == .corrupt)
    #expect(error?.description == "flipped.png: corrupt image: PNG chunk IDAT at byte \(position) fails its CRC check")
}
