import Foundation

/// A gzip (RFC 1952) reader with a DEFLATE (RFC 1951) decoder, so the tokenizer's vocabulary
/// (`bpe_simple_vocab_16e6.txt.gz`, as shipped by openai-clip and open-clip-torch) loads without
/// linking zlib. Decoding the 1.3 MB file takes a few milliseconds.
enum Gzip {
    struct DecodeError: Error, CustomStringConvertible {
        let reason: String
        var description: String { "gzip: \(reason)" }
    }

    /// Decompresses every member of a gzip stream and checks each member's length field.
    static func decompress(_ data: [UInt8]) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(data.count * 4)
        var position = 0
        while position < data.count {
            position = try skipHeader(data, at: position)
            var inflater = Inflater(data, position: position)
            let start = output.count
            try inflater.run(into: &output)
            position = inflater.byteAlignedPosition()
            guard position + 8 <= data.count else { throw DecodeError(reason: "truncated trailer") }
            let size = UInt32(data[position + 4]) | UInt32(data[position + 5]) << 8
                | UInt32(data[position + 6]) << 16 | UInt32(data[position + 7]) << 24
            guard UInt32(truncatingIfNeeded: output.count - start) == size else {
                throw DecodeError(reason: "length check failed (trailer says \(size) bytes)")
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

/// Canonical Huffman decoding table: symbols sorted by code, with per-length counts.
private struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]

    init(lengths: [Int]) throws {
        symbols = [Int](repeating: 0, count: lengths.count)
        for length in lengths { counts[length] += 1 }
        counts[0] = 0
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<16 { offsets[length] = offsets[length - 1] + counts[length - 1] }
        for (symbol, length) in lengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }
    }
}

private struct Inflater {
    let data: [UInt8]
    var position: Int
    var bitBuffer = 0
    var bitCount = 0

    init(_ data: [UInt8], position: Int) {
        self.data = data
        self.position = position
    }

    /// Position of the first byte after the deflate stream (unused buffered bits are dropped).
    func byteAlignedPosition() -> Int { position - bitCount / 8 }

    mutating func bits(_ count: Int) throws -> Int {
        while bitCount < count {
            guard position < data.count else { throw Gzip.DecodeError(reason: "unexpected end of deflate data") }
            bitBuffer |= Int(data[position]) << bitCount
            position += 1
            bitCount += 8
        }
        let value = bitBuffer & ((1 << count) - 1)
        bitBuffer >>= count
        bitCount -= count
        return value
    }

    mutating func decode(_ table: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for length in 1..<16 {
            code |= try bits(1)
            let count = table.counts[length]
            if code - first < count { return table.symbols[index + code - first] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw Gzip.DecodeError(reason: "invalid Huffman code")
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    mutating func run(into output: inout [UInt8]) throws {
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0: try stored(into: &output)
            case 1:
                let literal = try Huffman(lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
                    + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8))
                try codes(literal: literal, distance: Huffman(lengths: [Int](repeating: 5, count: 30)), into: &output)
            case 2:
                let (literal, distance) = try dynamicTables()
                try codes(literal: literal, distance: distance, into: &output)
            default: throw Gzip.DecodeError(reason: "invalid deflate block type 3")
            }
        }
    }

    mutating func stored(into output: inout [UInt8]) throws {
        bitBuffer = 0
        bitCount = 0
        guard position + 4 <= data.count else { throw Gzip.DecodeError(reason: "truncated stored block") }
        let length = Int(data[position]) | Int(data[position + 1]) << 8
        let complement = Int(data[position + 2]) | Int(data[position + 3]) << 8
        guard length == ~complement & 0xffff else { throw Gzip.DecodeError(reason: "stored block length mismatch") }
        position += 4
        guard position + length <= data.count else { throw Gzip.DecodeError(reason: "truncated stored block") }
        output.append(contentsOf: data[position..<(position + length)])
        position += length
    }

    mutating func dynamicTables() throws -> (Huffman, Huffman) {
        let literalCount = try bits(5) + 257
        let distanceCount = try bits(5) + 1
        let codeLengthCount = try bits(4) + 4
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengths[Inflater.codeLengthOrder[i]] = try bits(3) }
        let codeLengthTable = try Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try decode(codeLengthTable)
            switch symbol {
            case 0..<16: lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw Gzip.DecodeError(reason: "repeat with no previous length") }
                lengths += [Int](repeating: previous, count: 3 + (try bits(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw Gzip.DecodeError(reason: "too many code lengths") }
        return (try Huffman(lengths: Array(lengths[0..<literalCount])),
                try Huffman(lengths: Array(lengths[literalCount...])))
    }

    mutating func codes(literal: Huffman, distance: Huffman, into output: inout [UInt8]) throws {
        while true {
            let symbol = try decode(literal)
            if symbol < 256 {
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let index = symbol - 257
                guard index < 29 else { throw Gzip.DecodeError(reason: "invalid length symbol \(symbol)") }
                let length = Inflater.lengthBase[index] + (try bits(Inflater.lengthExtra[index]))
                let distanceSymbol = try decode(distance)
                guard distanceSymbol < 30 else { throw Gzip.DecodeError(reason: "invalid distance symbol \(distanceSymbol)") }
                let back = Inflater.distanceBase[distanceSymbol] + (try bits(Inflater.distanceExtra[distanceSymbol]))
                guard back <= output.count else { throw Gzip.DecodeError(reason: "distance \(back) reaches before the start") }
                let start = output.count - back
                for i in 0..<length { output.append(output[start + i]) }
            }
        }
    }
}
