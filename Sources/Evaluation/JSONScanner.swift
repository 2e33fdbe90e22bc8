import Foundation
import Tensors

extension MappedFile {
    /// Maps a JSON file for one front-to-back parse; failures are this module's errors.
    convenience init(path: String) throws {
        do {
            try self.init(url: URL(fileURLWithPath: path), sequential: true)
        } catch let TensorFileError.unreadable(file, reason) {
            throw EvaluationError.unreadable(file: file, reason: reason)
        }
    }

    /// The scanner over the whole file; valid while `self` lives.
    func scanner() -> JSONScanner {
        let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        return JSONScanner(bytes: start, count: count, file: url.path)
    }
}

/// A byte-level pull parser over JSON text: the caller walks objects and arrays and reads the
/// values it wants, skipping the rest without building any tree.
struct JSONScanner {
    /// A key (or string) in place: the bytes between the quotes, escapes not decoded.
    struct RawString {
        let start: Int
        let end: Int
        let hasEscapes: Bool
    }

    enum ValueKind { case object, array, string, number, bool, null }

    let bytes: UnsafePointer<UInt8>
    let count: Int
    let file: String
    var position = 0

    init(bytes: UnsafePointer<UInt8>, count: Int, file: String) {
        self.bytes = bytes
        self.count = count
        self.file = file
    }

    // MARK: - Errors

    func error(_ reason: String, at offset: Int? = nil) -> EvaluationError {
        let offset = min(offset ?? position, count)
        var line = 1, lineStart = 0
        for i in 0..<offset where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return .malformedJSON(file: file, line: line, column: offset - lineStart + 1, reason: reason)
    }

    // MARK: - Structure

    @inline(__always) mutating func skipWhitespace() {
        while position < count {
            let c = bytes[position]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 } else { return }
        }
    }

    /// The next value's kind, without consuming it.
    mutating func peekKind() throws -> ValueKind {
        skipWhitespace()
        guard position < count else { throw error("unexpected end of file") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "N"), UInt8(ascii: "I"): return .number
        default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[position])))'")
        }
    }

    @inline(__always) mutating func expect(_ c: UInt8, _ what: String) throws {
        skipWhitespace()
        guard position < count, bytes[position] == c else {
            throw error(position < count ? "expected \(what)" : "unexpected end of file, expected \(what)")
        }
        position += 1
    }

    mutating func beginObject() throws { try expect(UInt8(ascii: "{"), "an object '{'") }
    mutating func beginArray() throws { try expect(UInt8(ascii: "["), "an array '['") }

    /// The next key of the object being read, or nil at its closing brace.
    /// `first` is true before the first member and is updated.
    @inline(__always) mutating func nextKey(_ first: inout Bool) throws -> RawString? {
        skipWhitespace()
        guard position < count else { throw error("unexpected end of file inside an object") }
        if bytes[position] == UInt8(ascii: "}") {
            position += 1
            return nil
        }
        if !first {
            guard bytes[position] == UInt8(ascii: ",") else { throw error("expected ',' or '}' in an object") }
            position += 1
            skipWhitespace()
        }
        first = false
        guard position < count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
        let key = try rawString()
        try expect(UInt8(ascii: ":"), "':' after a key")
        return key
    }

    /// Whether another element follows in the array being read (false at its closing bracket).
    @inline(__always) mutating func nextElement(_ first: inout Bool) throws -> Bool {
        skipWhitespace()
        guard position < count else { throw error("unexpected end of file inside an array") }
        if bytes[position] == UInt8(ascii: "]") {
            position += 1
            return false
        }
        if !first {
            guard bytes[position] == UInt8(ascii: ",") else { throw error("expected ',' or ']' in an array") }
            position += 1
        }
        first = false
        return true
    }

    /// Fails unless only whitespace is left.
    mutating func expectEnd() throws {
        skipWhitespace()
        if position < count { throw error("unexpected content after the top-level value") }
    }

    // MARK: - Strings

    /// Reads a string in place (the opening quote is next).
    @inline(__always) mutating func rawString() throws -> RawString {
        try expect(UInt8(ascii: "\""), "a string")
        let start = position
        var escapes = false
        while position < count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                position += 1
                return RawString(start: start, end: position - 1, hasEscapes: escapes)
            }
            if c == UInt8(ascii: "\\") {
                escapes = true
                position += 2
                continue
            }
            if c < 0x20 { throw error("control character inside a string") }
            position += 1
        }
        throw error("unterminated string", at: start - 1)
    }

    /// Whether a raw key equals `literal` (keys with escapes are decoded first).
    @inline(__always) func matches(_ raw: RawString, _ literal: StaticString) -> Bool {
        if raw.hasEscapes { return (try? decode(raw)) == literal.description }
        let length = raw.end - raw.start
        guard length == literal.utf8CodeUnitCount else { return false }
        return memcmp(bytes + raw.start, literal.utf8Start, length) == 0
    }

    /// A string value, escapes decoded.
    mutating func string() throws -> String { try decode(rawString()) }

    func decode(_ raw: RawString) throws -> String {
        let buffer = UnsafeBufferPointer(start: bytes + raw.start, count: raw.end - raw.start)
        if !raw.hasEscapes { return String(decoding: buffer, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(buffer.count)
        var i = 0
        var pendingHigh: UInt32? = nil
        func append(_ scalar: UInt32) {
            let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(s)).utf8))
        }
        while i < buffer.count {
            let c = buffer[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < buffer.count else { throw error("bad escape in a string", at: raw.start + i) }
            let e = buffer[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "u"):
                guard i + 4 <= buffer.count,
                      let code = UInt32(String(decoding: buffer[i..<i + 4], as: UTF8.self), radix: 16)
                else { throw error("bad \\u escape in a string", at: raw.start + i) }
                i += 4
                if (0xD800..<0xDC00).contains(code) {
                    pendingHigh = code
                } else if (0xDC00..<0xE000).contains(code), let high = pendingHigh {
                    append(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                    pendingHigh = nil
                } else {
                    append(code)
                }
            default: throw error("bad escape in a string", at: raw.start + i - 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Numbers

    private static let exactPowersOfTen: [Double] = (0...22).map { Double("1e\($0)")! }

    /// A number as Python's `json` reads it into a float: correctly rounded. Also accepts
    /// Python's `NaN`, `Infinity` and `-Infinity` extensions (callers reject them with context).
    @inline(__always) mutating func number() throws -> Double {
        skipWhitespace()
        let start = position
        var negative = false
        if position < count, bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard position < count else { throw error("unexpected end of file in a number") }
        let first = bytes[position]
        if first == UInt8(ascii: "N") || first == UInt8(ascii: "I") {
            if literal("NaN") { return .nan }
            if literal("Infinity") { return negative ? -.infinity : .infinity }
            throw error("expected a number", at: start)
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        while position < count {
            let d = bytes[position] &- 48
            guard d < 10 else { break }
            sawDigit = true
            if digits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(d)
                if mantissa != 0 { digits += 1 }
            } else {
                exponent += 1
            }
            position += 1
        }
        guard sawDigit else { throw error("expected a number", at: start) }
        if position < count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            var fractionDigits = false
            while position < count {
                let d = bytes[position] &- 48
                guard d < 10 else { break }
                fractionDigits = true
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    if mantissa != 0 { digits += 1 }
                    exponent -= 1
                }
                position += 1
            }
            guard fractionDigits else { throw error("expected digits after '.'", at: start) }
        }
        if position < count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            var expNegative = false
            if position < count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
                expNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            var value = 0
            var expDigits = false
            while position < count {
                let d = bytes[position] &- 48
                guard d < 10 else { break }
                expDigits = true
                if value < 100_000 { value = value * 10 + Int(d) }
                position += 1
            }
            guard expDigits else { throw error("expected exponent digits", at: start) }
            exponent += expNegative ? -value : value
        }
        // Clinger's fast path: an exact mantissa times an exact power of ten rounds once.
        if digits <= 15 && mantissa < (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= JSONScanner.exactPowersOfTen[-exponent] }
            else if exponent > 0 { value *= JSONScanner.exactPowersOfTen[exponent] }
            return negative ? -value : value
        }
        return slowNumber(from: start, to: position)
    }

    private func slowNumber(from start: Int, to end: Int) -> Double {
        var buffer = [CChar](repeating: 0, count: end - start + 1)
        for i in start..<end { buffer[i - start] = CChar(bitPattern: bytes[i]) }
        return strtod(buffer, nil)
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard position + n <= count, memcmp(bytes + position, word.utf8Start, n) == 0 else { return false }
        position += n
        return true
    }

    // MARK: - Other values

    /// Reads `true`/`false`, or a number read as Python truthiness (`iscrowd: 1`).
    mutating func truthy() throws -> Bool {
        switch try peekKind() {
        case .bool:
            if literal("true") { return true }
            if literal("false") { return false }
            throw error("expected true or false")
        case .number: return try number() != 0
        case .null:
            _ = literal("null")
            return false
        default: throw error("expected a boolean or a number")
        }
    }

    /// Whether the next value is `null` (consumed if so).
    mutating func skipNull() -> Bool {
        skipWhitespace()
        return literal("null")
    }

    /// Skips one value of any kind.
    mutating func skipValue() throws {
        switch try peekKind() {
        case .string: _ = try rawString()
        case .number: _ = try number()
        case .bool:
            if !(literal("true") || literal("false")) { throw error("expected true or false") }
        case .null:
            if !literal("null") { throw error("expected null") }
        case .object, .array:
            // Brackets are balanced by a depth count; strings are skipped whole.
            var depth = 0
            repeat {
                guard position < count else { throw error("unexpected end of file") }
                let c = bytes[position]
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; position += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; position += 1
                case UInt8(ascii: "\""): _ = try rawString()
                default: position += 1
                }
            } while depth > 0
        }
    }

    /// An array of numbers.
    mutating func numberArray() throws -> [Double] {
        var values: [Double] = []
        try beginArray()
        var first = true
        while try nextElement(&first) { values.append(try number()) }
        return values
    }
}
