/// A gzip (RFC 1952) reader over `Inflate`, so the CLIP tokenizer's vocabulary
/// (`bpe_simple_vocab_16e6.txt.gz`, as shipped by openai-clip and open-clip-torch) loads without
/// linking zlib. Decoding the 1.3 MB file takes a few milliseconds.
public enum Gzip {
    public struct DecodeError: Error, CustomStringConvertible {
        public let reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { "gzip: \(reason)" }
    }

    /// Decompresses every member of a gzip stream and checks each member's CRC-32 and length.
    /// Malformed DEFLATE data inside a member is reported as a `DecodeError` too.
    public static func decompress(_ data: [UInt8]) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(data.count * 4)
        var position = 0
        while position < data.count {
            let memberOffset = position
            position = try skipHeader(data, at: position)
            let start = output.count
            do {
                let memberStart = position
                position += try data.withUnsafeBytes { bytes in
                    try Inflate.decompress(UnsafeRawBufferPointer(rebasing: bytes[memberStart...]), appendingTo: &output)
                }
            } catch let error as Inflate.Failure {
                throw DecodeError(reason: error.reason)
            }
            guard position + 8 <= data.count else { throw DecodeError(reason: "truncated trailer") }
            func trailer(_ offset: Int) -> UInt32 {
                (0..<4).reduce(0) { $0 | UInt32(data[position + offset + $1]) << (8 * $1) }
            }
            let crc = output.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            guard crc == trailer(0) else {
                throw DecodeError(reason: "CRC-32 check failed for the member at offset \(memberOffset)")
            }
            guard UInt32(truncatingIfNeeded: output.count - start) == trailer(4) else {
                throw DecodeError(reason: "length check failed (trailer says \(trailer(4)) bytes)")
            }
            position += 8
        }
        return output
    }

    private static func skipHeader(_ data: [UInt8], at start: Int) throws -> Int {
        guard start + 10 <= data.count, data[start] == 0x1f, data[start + 1] == 0x8b else {
            throw DecodeError(reason: "not a gzip stream (bad magic bytes at offset \(start))")
        }
        guard data[start + 2] == 8 else { throw DecodeError(reason: "unsupported compression method \(data[start + 2])") }
        let flags = data[start + 3]
        var position = start + 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard position + 2 <= data.count else { throw DecodeError(reason: "truncated header") }
            position += 2 + Int(data[position]) + Int(data[position + 1]) << 8
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while position < data.count, data[position] != 0 { position += 1 }
            position += 1
        }
        if flags & 0x02 != 0 { position += 2 }  // FHCRC
        guard position <= data.count else { throw DecodeError(reason: "truncated header") }
        return position
    }
}
