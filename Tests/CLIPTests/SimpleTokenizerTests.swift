import Foundation
import Testing
@testable import CLIP
import Compression

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

private struct TokenizerRecord: Decodable {
    let text: String
    let ids: [Int]
}

/// One tokenizer for every test (loading decompresses the 1.3 MB vocabulary).
let sharedTokenizer: SimpleTokenizer = try! SimpleTokenizer.bundled()

@Test func tokenizerMatchesOpenAIOnFixtureStrings() throws {
    let data = try Data(contentsOf: fixtures.appendingPathComponent("tokenizer.json"))
    let records = try JSONDecoder().decode([TokenizerRecord].self, from: data)
    #expect(records.count >= 2000)
    var mismatches: [String] = []
    for record in records where sharedTokenizer.encode(record.text) != record.ids {
        mismatches.append("\(record.text.debugDescription): \(sharedTokenizer.encode(record.text)) ≠ \(record.ids)")
    }
    let mismatchCount = mismatches.count
    #expect(mismatchCount == 0, "\(mismatchCount) of \(records.count) differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
}

@Test func tokenizeAddsSpecialTokensPadsAndTruncates() throws {
    let tokenizer = sharedTokenizer
    #expect(tokenizer.encode("a photo of a cat.") == [320, 1125, 539, 320, 2368, 269])
    #expect(tokenizer.startOfText == 49406 && tokenizer.endOfText == 49407 && tokenizer.vocabularySize == 49408)
    let ids = try tokenizer.tokenize("it's 2024")
    #expect(ids.count == 77)
    #expect(Array(ids[0..<8]) == [49406, 585, 568, 273, 271, 273, 275, 49407])
    #expect(ids[8...].allSatisfy { $0 == 0 })
    let long = String(repeating: "cat ", count: 100)
    #expect(throws: TokenizerError.self) { try tokenizer.tokenize(long) }
    let truncated = try tokenizer.tokenize(long, truncate: true)
    #expect(truncated.count == 77 && truncated[0] == 49406 && truncated[76] == 49407 && truncated[75] == 2368)
    #expect(tokenizer.decode(Array(ids[1..<7])) == "it 's 2 0 2 4 ")
}

@Test func huggingFaceVocabularyFilesGiveTheSameIds() throws {
    // vocab.json + merges.txt as Hugging Face ships them, derived from the bundled vocabulary.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clip-hf-vocab-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let tokenizer = sharedTokenizer
    let table = Dictionary(uniqueKeysWithValues: tokenizer.vocabulary.enumerated().map { ($0.element, $0.offset) })
    try JSONSerialization.data(withJSONObject: table).write(to: directory.appendingPathComponent("vocab.json"))
    let text = String(decoding: try Gzip.decompress([UInt8](Data(contentsOf: try BundledVocabulary.url()))), as: UTF8.self)
    let merges = text.split(separator: "\n", omittingEmptySubsequences: false)[1...48894]
    try ("#version: 0.2\n" + merges.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
    let hf = try SimpleTokenizer(vocabJSON: directory.appendingPathComponent("vocab.json"), mergesFile: directory.appendingPathComponent("merges.txt"))
    for text in ["a photo of a traffic light.", "it's 2024 — naïve café, 東京!", "<|startoftext|>x"] {
        #expect(hf.encode(text) == tokenizer.encode(text))
    }
}
