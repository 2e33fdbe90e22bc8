import Foundation

/// The parts of ftfy 6.3's `fix_text` (default configuration) that change CLIP token ids, ported
/// from ftfy's `__init__.py` and `fixes.py`.
///
/// Covered: HTML entities (`unescape_html="auto"`: skipped once a line contains `<`), C1 controls
/// as Windows-1252, Latin ligatures, fullwidth/halfwidth forms, curly quotes, line breaks,
/// terminal escapes, control characters, NFC, all repeated to a fixed point per line.
/// Mojibake: only the common case is repaired, a whole line of UTF-8 that was decoded as Latin-1
/// or Windows-1252 (`cafÃ©` → `café`, `donâ€™t` → `don't`), detected by a lead byte followed by a
/// continuation byte. ftfy's statistical badness score, its other legacy encodings (cp437,
/// MacRoman, Windows-125x), `restore_byte_a0`, lossy sequences and partially mixed lines are not.
enum FTFY {
    typealias Scalars = [Unicode.Scalar]

    static func fixText(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = Scalars()
        out.reserveCapacity(scalars.count)
        var unescapeHTML = true
        var start = 0
        while start < scalars.count {
            // Segments end after each "\n"; ftfy turns HTML unescaping off for good at the first "<".
            var end = start
            while end < scalars.count, scalars[end] != "\n" { end += 1 }
            end = min(end + 1, scalars.count)
            let segment = Array(scalars[start..<end])
            if segment.contains("<") { unescapeHTML = false }
            out += fixSegment(segment, unescapeHTML: unescapeHTML)
            start = end
        }
        return String(String.UnicodeScalarView(out))
    }

    static func fixSegment(_ segment: Scalars, unescapeHTML: Bool) -> Scalars {
        var text = segment
        while true {
            let original = text
            if unescapeHTML { text = HTMLUnescape.ftfy(text) }
            text = fixEncoding(text)
            text = fixC1Controls(text)
            text = fixLatinLigatures(text)
            text = fixCharacterWidth(text)
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text = removeControlCharacters(text)
            text = Array(String(String.UnicodeScalarView(text)).precomposedStringWithCanonicalMapping.unicodeScalars)
            if text == original { return text }
        }
    }

    // MARK: - Mojibake

    static func fixEncoding(_ text: Scalars) -> Scalars {
        var text = text
        while true {
            let previous = text
            text = fixEncodingOneStep(text)
            if text == previous { return text }
        }
    }

    private static func fixEncodingOneStep(_ text: Scalars) -> Scalars {
        guard text.contains(where: { $0.value >= 0x80 }) else { return text }
        let encodings: [(Unicode.Scalar) -> UInt8?] = [
            { $0.value <= 0xFF ? UInt8($0.value) : nil },  // latin-1
            Windows1252.sloppyByte,
        ]
        for encode in encodings {
            let bytes = text.compactMap(encode)
            guard bytes.count == text.count, looksLikeUTF8Mojibake(bytes) else { continue }
            if let decoded = String(validating: bytes, as: UTF8.self) { return Array(decoded.unicodeScalars) }
        }
        return text
    }

    /// A UTF-8 lead byte directly followed by a continuation byte, once re-encoded: the signature of
    /// UTF-8 read in a single-byte encoding (legitimate Latin-1 text almost never has it).
    private static func looksLikeUTF8Mojibake(_ bytes: [UInt8]) -> Bool {
        for i in 0..<(max(bytes.count, 1) - 1) where (0xC2...0xF4).contains(bytes[i]) && (0x80...0xBF).contains(bytes[i + 1]) {
            return true
        }
        return false
    }

    // MARK: - Character fixes

    static func fixC1Controls(_ text: Scalars) -> Scalars {
        text.map { (0x80...0x9F).contains($0.value) ? Windows1252.sloppyScalar(UInt8($0.value)) : $0 }
    }

    private static let ligatures: [UInt32: String] = [
        0x132: "IJ", 0x133: "ij", 0x149: "ʼn", 0x1F1: "DZ", 0x1F2: "Dz", 0x1F3: "dz", 0x1C4: "DŽ", 0x1C5: "Dž",
        0x1C6: "dž", 0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj", 0x1CA: "NJ", 0x1CB: "Nj", 0x1CC: "nj",
        0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "ſt", 0xFB06: "st",
    ]

    static func fixLatinLigatures(_ text: Scalars) -> Scalars {
        text.flatMap { ligatures[$0.value].map { Array($0.unicodeScalars) } ?? [$0] }
    }

    static func fixCharacterWidth(_ text: Scalars) -> Scalars {
        let width = HTMLUnescape.Tables.shared.width
        return text.flatMap { width[$0.value] ?? [$0] }
    }

    static func uncurlQuotes(_ text: Scalars) -> Scalars {
        text.map { scalar in
            switch scalar.value {
            case 0x2BC, 0x2018...0x201B: "'"
            case 0x201C...0x201F: "\""
            default: scalar
            }
        }
    }

    static func fixLineBreaks(_ text: Scalars) -> Scalars {
        var out = Scalars()
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            switch text[i].value {
            case 0x0D:
                out.append("\n")
                if i + 1 < text.count, text[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(text[i])
            }
            i += 1
        }
        return out
    }

    /// ANSI_RE = "\x1b\[((?:\d|;)*)([a-zA-Z])", where Python's `\d` is any decimal digit.
    static func removeTerminalEscapes(_ text: Scalars) -> Scalars {
        guard text.contains("\u{1B}") else { return text }
        var out = Scalars()
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count, text[j] == ";" || text[j].properties.numericType == .decimal { j += 1 }
                if j < text.count, text[j].isASCII, text[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    static func removeControlCharacters(_ text: Scalars) -> Scalars {
        text.filter { scalar in
            switch scalar.value {
            case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: false
            default: true
            }
        }
    }
}
