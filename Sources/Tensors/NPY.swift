import Foundation

/// NumPy `.npy` files (format versions 1, 2 and 3).
///
/// Reading accepts little-endian `<f4`, `<f8`, `<f2`, `<i8`, `<i4`, `<i2`, `|i1`, `|u1`, `<u2`,
/// `<u4`, `<u8` and `|b1` arrays in C order and converts them to Float32 (integers by value,
/// booleans to 0/1). A 0-d array reads as shape `[]`. Writing produces `<f4` files identical
/// to what `numpy.save` writes.
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    private static let dtypes: [String: TensorDType] = [
        "<f4": .f32, "<f8": .f64, "<f2": .f16, "<i8": .i64, "<i4": .i32, "<i2": .i16, "|i1": .i8,
        "<u8": .u64, "<u4": .u32, "<u2": .u16, "|u1": .u8, "|b1": .bool,
    ]

    public static func read(_ url: URL) throws -> Tensor {
        let file = url.path
        let mapping = try MappedFile(url: url)
        let bytes = mapping.bytes
        guard bytes.count >= 10 else { throw TensorFileError.truncated(file: file, reason: "\(bytes.count) bytes, too short for an .npy preamble") }
        guard Array(bytes[0..<6]) == magic else { throw TensorFileError.malformedHeader(file: file, reason: "missing the \\x93NUMPY magic") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw TensorFileError.truncated(file: file, reason: "preamble cut short") }
            headerLength = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            headerStart = 12
        default:
            throw TensorFileError.malformedHeader(file: file, reason: "unsupported format version \(major).\(bytes[7])")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw TensorFileError.headerBeyondFile(file: file, headerLength: UInt64(headerLength), fileSize: bytes.count)
        }
        // Versions 1 and 2 are latin-1, version 3 is UTF-8; the fields we read are ASCII.
        let headerBytes = Array(bytes[headerStart..<(headerStart + headerLength)])
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw TensorFileError.malformedHeader(file: file, reason: "header text is not decodable")
        }
        var parser = HeaderParser(text: header, file: file)
        let fields = try parser.parseDictionary()

        guard case let .string(descr)? = fields["descr"] else {
            throw TensorFileError.malformedHeader(file: file, reason: "no 'descr' string in header \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard let dtype = dtypes[descr] else { throw TensorFileError.unknownDType(file: file, tensor: "array", dtype: descr) }
        guard case let .bool(fortran)? = fields["fortran_order"] else {
            throw TensorFileError.malformedHeader(file: file, reason: "no 'fortran_order' boolean in header")
        }
        guard case let .tuple(shape)? = fields["shape"], shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorFileError.malformedHeader(file: file, reason: "no 'shape' tuple of non-negative integers in header")
        }
        let (count, overflow) = shape.reduce((1, false)) { partial, dim in
            let product = partial.0.multipliedReportingOverflow(by: dim)
            return (product.partialValue, partial.1 || product.overflow)
        }
        let dataStart = headerStart + headerLength
        guard !overflow, count <= (bytes.count - dataStart) / dtype.byteSize else {
            throw TensorFileError.byteCountMismatch(file: file, tensor: "array", shape: shape, dtype: descr,
                                                    expectedBytes: overflow ? Int.max : count * dtype.byteSize,
                                                    actualBytes: bytes.count - dataStart)
        }
        if fortran && shape.filter({ $0 > 1 }).count > 1 { throw TensorFileError.fortranOrder(file: file) }
        return Tensor(shape: shape) { buffer in
            if count > 0 { dtype.convert(bytes.baseAddress! + dataStart, count: count, to: buffer.baseAddress!) }
        }
    }

    /// Writes `tensor` as a `<f4` array, byte for byte as `numpy.save` would.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // numpy leaves room for the first axis to grow to 21 digits, then pads with spaces and
        // a final newline so the data starts on a 64-byte boundary.
        if let first = tensor.shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let wide = header.utf8.count + 1 + 10 > 65535
        let preamble = wide ? 12 : 10
        let padding = 64 - (preamble + header.utf8.count + 1) % 64
        header += String(repeating: " ", count: padding) + "\n"
        var output = Data(magic + [wide ? 2 : 1, 0])
        if wide {
            withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian) { output.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { output.append(contentsOf: $0) }
        }
        output.append(contentsOf: Array(header.utf8))
        tensor.withUnsafeBufferPointer { values in
            var little = [UInt32](repeating: 0, count: values.count)
            for (i, v) in values.enumerated() { little[i] = v.bitPattern.littleEndian }
            little.withUnsafeBytes { output.append(contentsOf: $0) }
        }
        try AtomicFile.write(output, to: url)
    }
}

/// The Python dict literal of an .npy header: string keys; values are strings, booleans or
/// tuples of integers.
private struct HeaderParser {
    enum Value { case string(String), bool(Bool), tuple([Int]) }

    let characters: [Character]
    let file: String
    var position = 0

    init(text: String, file: String) {
        characters = Array(text)
        self.file = file
    }

    mutating func parseDictionary() throws -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while true {
            skipSpace()
            if peek() == "}" { position += 1; break }
            guard case let .string(key) = try parseValue() else { throw failure("dictionary key is not a string") }
            try expect(":")
            result[key] = try parseValue()
            skipSpace()
            if peek() == "," { position += 1; continue }
            try expect("}")
            break
        }
        return result
    }

    private mutating func parseValue() throws -> Value {
        skipSpace()
        switch peek() {
        case "'", "\"":
            let quote = characters[position]
            position += 1
            var text = ""
            while let c = peek(), c != quote { text.append(c); position += 1 }
            try expect(quote)
            return .string(text)
        case "(":
            position += 1
            var items: [Int] = []
            while true {
                skipSpace()
                if peek() == ")" { position += 1; break }
                var digits = ""
                while let c = peek(), c.isNumber || c == "-" { digits.append(c); position += 1 }
                // Python 2 era files may write long integers as "3L".
                if peek() == "L" { position += 1 }
                guard let value = Int(digits) else { throw failure("shape entry is not an integer") }
                items.append(value)
                skipSpace()
                if peek() == "," { position += 1; continue }
                try expect(")")
                break
            }
            return .tuple(items)
        default:
            if word("True") { return .bool(true) }
            if word("False") { return .bool(false) }
            throw failure("unexpected value at offset \(position)")
        }
    }

    private mutating func word(_ text: String) -> Bool {
        let letters = Array(text)
        guard position + letters.count <= characters.count,
              Array(characters[position..<(position + letters.count)]) == letters else { return false }
        position += letters.count
        return true
    }

    private func peek() -> Character? { position < characters.count ? characters[position] : nil }

    private mutating func skipSpace() { while let c = peek(), c.isWhitespace { position += 1 } }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard peek() == c else { throw failure("expected '\(c)' at offset \(position)") }
        position += 1
    }

    private func failure(_ reason: String) -> TensorFileError {
        .malformedHeader(file: file, reason: "header \(String(characters).trimmingCharacters(in: .whitespacesAndNewlines)): \(reason)")
    }
}
