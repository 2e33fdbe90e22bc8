import Foundation
import Compression

/// OpenAI CLIP's byte-level BPE tokenizer (`clip/simple_tokenizer.py` and `clip.tokenize`).
///
/// Symbols are vocabulary ids throughout: a merge of two symbols is the id of their concatenated
/// string, so the BPE loop compares integers instead of strings and gives the same ids.
public final class SimpleTokenizer: Sendable {
    public static let contextLength = 77
    public let startOfText: Int
    public let endOfText: Int
    public var vocabularySize: Int { vocabulary.count }

    /// Token strings in id order (byte-level alphabet as in `bytes_to_unicode`).
    let vocabulary: [String]
    private let mergeRanks: [Pair: Int]
    private let mergedIds: [Pair: Int]
    /// Byte → id of its single-character symbol, and of that symbol with `</w>`.
    private let byteIds: [Int]
    private let finalByteIds: [Int]
    private let cache = TokenCache()

    struct Pair: Hashable {
        let first: Int32, second: Int32
    }

    /// Loads `bpe_simple_vocab_16e6.txt.gz` (or the same file uncompressed).
    public convenience init(bpeFile url: URL) throws {
        let bytes = try Self.readBytes(url)
        let text: [UInt8]
        do {
            text = bytes.starts(with: [0x1f, 0x8b]) ? try Gzip.decompress(bytes) : bytes
        } catch {
            throw TokenizerError.unreadableVocabulary(url.path, "\(error)")
        }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        // simple_tokenizer.py: merges = lines[1 : 49152-256-2+1]
        let mergeCount = 49152 - 256 - 2
        guard lines.count > mergeCount else {
            throw TokenizerError.unreadableVocabulary(url.path, "expected at least \(mergeCount + 1) lines, found \(lines.count)")
        }
        let merges = try Self.parseMerges(lines[1...mergeCount], file: url.path, firstLine: 2)
        var vocabulary = ByteEncoder.vocabularyOrder.map { String(ByteEncoder.alphabet[$0]) }
        vocabulary += vocabulary.map { $0 + "</w>" }
        vocabulary += merges.map { $0.0 + $0.1 }
        vocabulary += ["<|startoftext|>", "<|endoftext|>"]
        try self.init(vocabulary: vocabulary, merges: merges, source: url.path)
    }

    /// Loads a Hugging Face CLIP tokenizer's `vocab.json` and `merges.txt`.
    public convenience init(vocabJSON: URL, mergesFile: URL) throws {
        let object = try JSONSerialization.jsonObject(with: Data(Self.readBytes(vocabJSON)))
        guard let table = object as? [String: Int] else {
            throw TokenizerError.unreadableVocabulary(vocabJSON.path, "expected a JSON object of token → id")
        }
        var vocabulary = [String](repeating: "", count: table.count)
        for (token, id) in table {
            guard id >= 0, id < table.count, vocabulary[id].isEmpty else {
                throw TokenizerError.unreadableVocabulary(vocabJSON.path, "id \(id) of \"\(token)\" is out of range or repeated")
            }
            vocabulary[id] = token
        }
        let lines = String(decoding: try Self.readBytes(mergesFile), as: UTF8.self).split(separator: "\n")
        let body = lines.first?.hasPrefix("#version") == true ? lines.dropFirst() : lines[...]
        let merges = try Self.parseMerges(body, file: mergesFile.path, firstLine: lines.count - body.count + 1)
        try self.init(vocabulary: vocabulary, merges: merges, source: vocabJSON.path)
    }

    init(vocabulary: [String], merges: [(String, String)], source: String) throws {
        var ids: [String: Int] = [:]
        for (id, token) in vocabulary.enumerated() { ids[token] = id }
        func id(_ token: String) throws -> Int {
            guard let id = ids[token] else { throw TokenizerError.unreadableVocabulary(source, "token \"\(token)\" is not in the vocabulary") }
            return id
        }
        var ranks: [Pair: Int] = [:]
        var merged: [Pair: Int] = [:]
        for (rank, (first, second)) in merges.enumerated() {
            let pair = Pair(first: Int32(try id(first)), second: Int32(try id(second)))
            ranks[pair] = rank
            merged[pair] = try id(first + second)
        }
        let alphabet = ByteEncoder.alphabet
        self.byteIds = try (0..<256).map { try id(String(alphabet[$0])) }
        self.finalByteIds = try (0..<256).map { try id(String(alphabet[$0]) + "</w>") }
        self.startOfText = try id("<|startoftext|>")
        self.endOfText = try id("<|endoftext|>")
        self.vocabulary = vocabulary
        self.mergeRanks = ranks
        self.mergedIds = merged
    }

    /// The tokenizer shipped with this module (`Resources/bpe_simple_vocab_16e6.txt.gz`).
    public static func bundled() throws -> SimpleTokenizer {
        try SimpleTokenizer(bpeFile: BundledVocabulary.url())
    }

    // MARK: - Encoding

    /// Token ids of `text` without start/end tokens (`SimpleTokenizer.encode`).
    public func encode(_ text: String) -> [Int] {
        let cleaned = TextCleaning.clean(text)
        var ids: [Int] = []
        for piece in PreTokenizer.split(cleaned) {
            switch piece {
            case .startOfText: ids.append(startOfText)
            case .endOfText: ids.append(endOfText)
            case .text(let string): ids += bpe(Array(string.utf8))
            }
        }
        return ids
    }

    /// `clip.tokenize`: start token, ids, end token, zero-padded to `contextLength`. Too long a text
    /// throws unless `truncate`, which keeps the first `contextLength` ids and ends with the end token.
    public func tokenize(_ text: String, contextLength: Int = SimpleTokenizer.contextLength, truncate: Bool = false) throws -> [Int] {
        var ids = [startOfText] + encode(text) + [endOfText]
        if ids.count > contextLength {
            guard truncate else { throw TokenizerError.tooLong(text: text, tokens: ids.count, contextLength: contextLength) }
            ids = Array(ids[0..<contextLength])
            ids[contextLength - 1] = endOfText
        }
        return ids + [Int](repeating: 0, count: contextLength - ids.count)
    }

    /// Ids back to text (`SimpleTokenizer.decode`): `</w>` becomes a space.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < vocabulary.count {
            for scalar in vocabulary[id].unicodeScalars {
                if let byte = ByteEncoder.byte(for: scalar) { bytes.append(byte) }
            }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.replacingOccurrences(of: "</w>", with: " ")
    }

    /// Byte-pair merges of one pre-token, lowest rank first, as in `SimpleTokenizer.bpe`.
    func bpe(_ bytes: [UInt8]) -> [Int] {
        if let cached = cache.lookup(bytes) { return cached }
        var word = bytes.dropLast().map { Int32(byteIds[Int($0)]) } + [Int32(finalByteIds[Int(bytes.last!)])]
        while word.count > 1 {
            var best: Pair?
            var bestRank = Int.max
            for i in 0..<(word.count - 1) {
                let pair = Pair(first: word[i], second: word[i + 1])
                if let rank = mergeRanks[pair], rank < bestRank {
                    bestRank = rank
                    best = pair
                }
            }
            guard let pair = best, let merged = mergedIds[pair] else { break }
            var next: [Int32] = []
            next.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i < word.count - 1, word[i] == pair.first, word[i + 1] == pair.second {
                    next.append(Int32(merged))
                    i += 2
                } else {
                    next.append(word[i])
                    i += 1
                }
            }
            word = next
        }
        let ids = word.map { Int($0) }
        cache.store(bytes, ids)
        return ids
    }

    // MARK: - Files

    private static func readBytes(_ url: URL) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError.unreadableVocabulary(url.path, "cannot read the file")
        }
        return [UInt8](data)
    }

    private static func parseMerges(_ lines: ArraySlice<Substring>, file: String, firstLine: Int) throws -> [(String, String)] {
        try lines.enumerated().map { offset, line in
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw TokenizerError.unreadableVocabulary(file, "line \(firstLine + offset): expected two symbols, found \"\(line)\"")
            }
            return (String(parts[0]), String(parts[1]))
        }
    }
}

public enum TokenizerError: Error, CustomStringConvertible {
    case unreadableVocabulary(String, String)
    case tooLong(text: String, tokens: Int, contextLength: Int)
    case vocabularyNotFound([String])

    public var description: String {
        switch self {
        case .unreadableVocabulary(let path, let reason): "CLIP tokenizer vocabulary \(path): \(reason)"
        case .tooLong(let text, let tokens, let context):
            "text is too long for CLIP's context (\(tokens) tokens > \(context)): \"\(text.prefix(80))\""
        case .vocabularyNotFound(let paths):
            "CLIP tokenizer vocabulary bpe_simple_vocab_16e6.txt.gz not found; looked in: \(paths.joined(separator: ", ")) (set REGIONSPOT_CLIP_VOCAB)"
        }
    }
}

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the other 68 to U+0100 onward.
enum ByteEncoder {
    static let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    /// The vocabulary's first 256 entries: printable bytes first, then the rest (dict order in Python).
    static let vocabularyOrder = printable + (0..<256).filter { !printable.contains($0) }

    static let alphabet: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        for byte in printable { table[byte] = Unicode.Scalar(UInt32(byte))! }
        var next: UInt32 = 256
        for byte in 0..<256 where !printable.contains(byte) {
            table[byte] = Unicode.Scalar(next)!
            next += 1
        }
        return table
    }()

    private static let reverse: [Unicode.Scalar: UInt8] = Dictionary(
        uniqueKeysWithValues: alphabet.enumerated().map { ($0.element, UInt8($0.offset)) })

    static func byte(for scalar: Unicode.Scalar) -> UInt8? { reverse[scalar] }
}

/// Memo of pre-token → ids (`SimpleTokenizer.cache`); vocabulary words repeat across prompts.
private final class TokenCache: @unchecked Sendable {
    private var table: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()

    func lookup(_ key: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return table[key]
    }

    func store(_ key: [UInt8], _ ids: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if table.count > 100_000 { table.removeAll(keepingCapacity: true) }
        table[key] = ids
    }
}

/// Finds `Resources/bpe_simple_vocab_16e6.txt.gz`: `$REGIONSPOT_CLIP_VOCAB`, then the SwiftPM
/// resource bundle beside the executable, then the source tree this module was built from.
enum BundledVocabulary {
    static let fileName = "bpe_simple_vocab_16e6.txt.gz"

    static func url() throws -> URL {
        var candidates: [URL] = []
        if let path = ProcessInfo.processInfo.environment["REGIONSPOT_CLIP_VOCAB"] {
            candidates.append(URL(fileURLWithPath: path))
        }
        let executableDirectory = Bundle.main.bundleURL
        for bundle in ["RegionSpot_CLIP.resources", "RegionSpot_CLIP.bundle", "RegionSpot_CLIP.bundle/Contents/Resources"] {
            candidates.append(executableDirectory.appendingPathComponent(bundle).appendingPathComponent(fileName))
            candidates.append(executableDirectory.deletingLastPathComponent().appendingPathComponent(bundle).appendingPathComponent(fileName))
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Resources").appendingPathComponent(fileName))
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        throw TokenizerError.vocabularyNotFound(candidates.map(\.path))
    }
}
