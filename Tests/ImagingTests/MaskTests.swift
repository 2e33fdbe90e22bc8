import Imaging
import Testing

/// A binary mask's COCO run lengths: column-major, starting with background.
@Test func binaryMaskRunLengths() throws {
    // Rows . # #  /  . . #  → columns (top, bottom): (. .) (# .) (# #).
    let mask = BinaryMask(width: 3, height: 2, pixels: [false, true, true, false, false, true])
    #expect(mask.columnMajorBytes == [0, 0, 1, 0, 1, 1])
    let rle = RLE(mask)
    #expect(rle.counts == [2, 1, 1, 2])
    #expect(rle.decoded() == mask.columnMajorBytes)
    #expect(rle.area == 3)
    #expect(rle.boundingBox == [1, 0, 2, 2])
    #expect(RLE(compressed: Array(rle.compressedString.utf8), height: 2, width: 3) == rle)
}
