/// Python's `html.unescape` (the tokenizer applies it twice) and ftfy's stricter `unescape_html`,
/// ported from CPython 3.11 `Lib/html/__init__.py` and ftfy 6.3 `fixes.py`.
enum HTMLUnescape {
    typealias Scalars = [Unicode.Scalar]

    /// `html.unescape`: numeric references (with or without `;`), named references from the HTML5
    /// table, and the longest known prefix of an unknown name (`&copyx` → `©x`).
    static func python(_ text: Scalars) -> Scalars {
        guard text.contains("&") else { return text }
        var out = Scalars()
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == "&", let (replacement, end) = pythonReference(text, at: i + 1) {
                out += replacement
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// ftfy's `unescape_html`: only `&name;` and `&#…;` forms, plus all-caps Latin names.
    static func ftfy(_ text: Scalars) -> Scalars {
        guard text.contains("&") else { return text }
        var out = Scalars()
        var i = 0
        while i < text.count {
            // HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24};
            if text[i] == "&" {
                var j = i + 1
                let numeric = j < text.count && text[j] == "#"
                if numeric { j += 1 }
                let nameStart = j
                while j < text.count, j - nameStart < 25, isASCIIAlphanumeric(text[j]) { j += 1 }
                let length = j - nameStart
                if length >= 1, length <= 24, j < text.count, text[j] == ";" {
                    let entity = Array(text[i...j])
                    out += ftfyFixup(entity)
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    private static func ftfyFixup(_ entity: Scalars) -> Scalars {
        let name = String(String.UnicodeScalarView(entity.dropFirst()))
        if let value = Tables.shared.html5[name] ?? Tables.shared.ftfyUppercase[name] { return value }
        if entity.count > 1, entity[1] == "#" {
            let unescaped = python(entity)
            return unescaped.contains(";") ? entity : unescaped
        }
        return entity
    }

    /// Matches `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` at `start` (just after `&`).
    private static func pythonReference(_ text: Scalars, at start: Int) -> (Scalars, Int)? {
        guard start < text.count else { return nil }
        if text[start] == "#" {
            var j = start + 1
            var hex = false
            if j < text.count, text[j] == "x" || text[j] == "X",
               j + 1 < text.count, text[j + 1].properties.isASCIIHexDigit {
                hex = true
                j += 1
            }
            let digitsStart = j
            while j < text.count, hex ? text[j].properties.isASCIIHexDigit : isASCIIDigit(text[j]) { j += 1 }
            guard j > digitsStart else { return nil }
            var value = 0
            for scalar in text[digitsStart..<j] {
                value = min(value * (hex ? 16 : 10) + Int(hexValue(scalar)), 0x7fff_ffff)  // saturate: > U+10FFFF anyway
            }
            if j < text.count, text[j] == ";" { j += 1 }
            return (characterReference(value), j)
        }
        var j = start
        while j < text.count, j - start < 32, !"\t\n\u{0C} <&#;".unicodeScalars.contains(text[j]) { j += 1 }
        guard j > start else { return nil }
        if j < text.count, text[j] == ";" { j += 1 }
        let name = Array(text[start..<j])
        let table = Tables.shared.html5
        if let value = table[String(String.UnicodeScalarView(name))] { return (value, j) }
        // The longest prefix (at least two characters) that is a known name.
        var length = name.count - 1
        while length > 1 {
            if let value = table[String(String.UnicodeScalarView(name[0..<length]))] {
                return (value + name[length...], j)
            }
            length -= 1
        }
        return (["&"] + name, j)
    }

    private static func characterReference(_ value: Int) -> Scalars {
        if let replacement = invalidCharacterReferences[value] { return [replacement] }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return ["\u{FFFD}"] }
        if invalidCodePoints(value) { return [] }
        return [Unicode.Scalar(UInt32(value))!]
    }

    private static func invalidCodePoints(_ value: Int) -> Bool {
        (0x1...0x8).contains(value) || (0xE...0x1F).contains(value) || (0x7F...0x9F).contains(value)
            || (0xFDD0...0xFDEF).contains(value) || value == 0xB || value & 0xFFFE == 0xFFFE
    }

    /// CPython's `_invalid_charrefs`: NUL, CR, and the C1 range read as Windows-1252.
    private static let invalidCharacterReferences: [Int: Unicode.Scalar] = {
        var table: [Int: Unicode.Scalar] = [0x00: "\u{FFFD}", 0x0D: "\r"]
        for byte in 0x80...0x9F { table[byte] = Windows1252.sloppyScalar(UInt8(byte)) }
        return table
    }()

    private static func isASCIIDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }
    private static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        isASCIIDigit(s) || (s.value >= 0x41 && s.value <= 0x5A) || (s.value >= 0x61 && s.value <= 0x7A)
    }
    private static func hexValue(_ s: Unicode.Scalar) -> UInt32 {
        switch s.value {
        case 0x30...0x39: s.value - 0x30
        case 0x41...0x46: s.value - 0x41 + 10
        default: s.value - 0x61 + 10
        }
    }

    /// The entity tables, parsed once from CleaningTables.swift.
    struct Tables: Sendable {
        let html5: [String: Scalars]
        let ftfyUppercase: [String: Scalars]
        let width: [UInt32: Scalars]
        static let shared = Tables()

        private init() {
            html5 = Dictionary(uniqueKeysWithValues: Tables.parse(CleaningTables.html5).map { ($0, $1) })
            ftfyUppercase = Dictionary(uniqueKeysWithValues: Tables.parse(CleaningTables.ftfyUppercase).map { ($0, $1) })
            width = Dictionary(uniqueKeysWithValues: Tables.parse(CleaningTables.width).map { (UInt32($0, radix: 16)!, $1) })
        }

        private static func parse(_ table: String) -> [(String, Scalars)] {
            table.split(separator: "\n").map { line in
                let fields = line.split(separator: "\t")
                return (String(fields[0]), fields.dropFirst().map { Unicode.Scalar(UInt32($0, radix: 16)!)! })
            }
        }
    }
}

/// Windows-1252 as ftfy's "sloppy" codec: the five undefined bytes map to the C1 code points.
enum Windows1252 {
    private static let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178,
    ]

    static func sloppyScalar(_ byte: UInt8) -> Unicode.Scalar {
        (0x80...0x9F).contains(byte) ? Unicode.Scalar(high[Int(byte) - 0x80])! : Unicode.Scalar(byte)
    }

    /// The byte a scalar encodes to in sloppy Windows-1252, if any.
    static func sloppyByte(_ scalar: Unicode.Scalar) -> UInt8? {
        if scalar.value < 0x80 || (0xA0...0xFF).contains(scalar.value) { return UInt8(scalar.value) }
        return reverse[scalar.value]
    }

    private static let reverse: [UInt32: UInt8] = Dictionary(
        uniqueKeysWithValues: high.enumerated().map { ($0.element, UInt8(0x80 + $0.offset)) })
}
