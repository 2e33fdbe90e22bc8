/// The text pipeline in front of the BPE (`simple_tokenizer.py`: `basic_clean`, `whitespace_clean`,
/// `.lower()`, then `regex.findall(self.pat, text)`).
enum TextCleaning {
    /// `whitespace_clean(basic_clean(text)).lower()`.
    static func clean(_ text: String) -> String {
        var scalars = Array(FTFY.fixText(text).unicodeScalars)
        scalars = HTMLUnescape.python(HTMLUnescape.python(scalars))
        // `re.sub(r'\s+', ' ', text).strip()`; the regex module's \s is Unicode White_Space.
        var collapsed: [Unicode.Scalar] = []
        collapsed.reserveCapacity(scalars.count)
        for scalar in scalars {
            if scalar.properties.isWhitespace {
                if let last = collapsed.last, last != " " { collapsed.append(" ") }
            } else {
                collapsed.append(scalar)
            }
        }
        if collapsed.last == " " { collapsed.removeLast() }
        return pythonLowercased(collapsed)
    }

    /// Python's `str.lower()`: full case mapping, with Greek capital sigma becoming final sigma at
    /// the end of a word (Unicode's Final_Sigma condition).
    static func pythonLowercased(_ scalars: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        for (i, scalar) in scalars.enumerated() {
            if scalar == "\u{03A3}" {
                out.append(isFinalSigma(scalars, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// Preceded by a cased letter and not followed by one (case-ignorable characters skipped).
    private static func isFinalSigma(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        func casedNeighbour(_ indices: some Sequence<Int>) -> Bool {
            for j in indices {
                let properties = scalars[j].properties
                if properties.isCaseIgnorable { continue }
                return properties.isCased
            }
            return false
        }
        return casedNeighbour(stride(from: index - 1, through: 0, by: -1))
            && !casedNeighbour((index + 1)..<scalars.count)
    }
}

/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// matched left to right on code points, alternatives in that order; unmatched whitespace is skipped.
enum PreTokenizer {
    enum Piece: Equatable {
        case startOfText, endOfText
        case text(String)
    }

    static func split(_ text: String) -> [Piece] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [Piece] = []
        var i = 0
        while i < scalars.count {
            if let length = match("<|startoftext|>", scalars, i) {
                pieces.append(.startOfText)
                i += length
                continue
            }
            if let length = match("<|endoftext|>", scalars, i) {
                pieces.append(.endOfText)
                i += length
                continue
            }
            var end = i
            if let length = contraction(scalars, i) {
                end = i + length
            } else if isLetter(scalars[i]) {
                while end < scalars.count, isLetter(scalars[end]) { end += 1 }
            } else if isNumber(scalars[i]) {
                end = i + 1
            } else if !scalars[i].properties.isWhitespace {
                while end < scalars.count, !scalars[end].properties.isWhitespace,
                      !isLetter(scalars[end]), !isNumber(scalars[end]) { end += 1 }
            } else {
                i += 1
                continue
            }
            pieces.append(.text(String(String.UnicodeScalarView(scalars[i..<end]))))
            i = end
        }
        return pieces
    }

    private static let contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }

    private static func contraction(_ scalars: [Unicode.Scalar], _ start: Int) -> Int? {
        guard scalars[start] == "'" else { return nil }
        for candidate in contractions where matchCaseless(candidate, scalars, start) { return candidate.count }
        return nil
    }

    private static func match(_ literal: String, _ scalars: [Unicode.Scalar], _ start: Int) -> Int? {
        let pattern = Array(literal.unicodeScalars)
        return matchCaseless(pattern, scalars, start) ? pattern.count : nil
    }

    /// The pattern is lower-case ASCII; IGNORECASE (simple case folding) also accepts ASCII capitals,
    /// LATIN SMALL LETTER LONG S for "s" and KELVIN SIGN for "k".
    private static func matchCaseless(_ pattern: [Unicode.Scalar], _ scalars: [Unicode.Scalar], _ start: Int) -> Bool {
        guard start + pattern.count <= scalars.count else { return false }
        for (offset, expected) in pattern.enumerated() where scalars[start + offset] != expected {
            let value = scalars[start + offset].value
            let folded: UInt32 = switch value {
            case 0x41...0x5A: value | 0x20
            case 0x17F: 0x73
            case 0x212A: 0x6B
            default: value
            }
            if folded != expected.value { return false }
        }
        return true
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }
}
