import CLIP
import Foundation
import Imaging
import SAM
import Testing
import TestSupport
import Tensors
@testable import RegionSpot

/// The engine's stages on the pipeline fixture: composed, sent through bytes, and called from
/// many threads at once, they give the same answer.
struct StagesTests {
    static func load() throws -> (Recognizer, RGBImage, RecognizerTests.Request, URL) {
        let (bundle, request) = try RecognizerTests.makeBundle()
        let image = try RGBImage(contentsOf: RecognizerTests.fixtures.appendingPathComponent("image.png"))
        return (try Recognizer(bundle: bundle), image, request, bundle.directory)
    }

    @Test func recognizeIsTheStagesComposedBitForBit() throws {
        let (recognizer, image, request, directory) = try Self.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let composed = try recognizer.recognize(image: image, boxes: request.boxes, vocabulary: request.vocabulary,
                                                topK: request.top_k, masks: true)
        let embedding = recognizer.encodeImage(image)
        let tokens = try recognizer.tokenMap(image)
        let classes = try recognizer.classEmbeddings(for: request.vocabulary)
        let regions = try recognizer.regionTokens(embedding, boxes: request.boxes, masks: true)
        let classified = try recognizer.classify(maskTokens: regions.maskTokens, tokenMap: tokens, classEmbeddings: classes,
                                                 topK: request.top_k)
        #expect(composed.probabilities == classified.probabilities)
        #expect(composed.regions.map(\.maskScore) == regions.maskScores)
        #expect(composed.regions.map(\.mask) == regions.masks.map { Optional($0) })
        #expect(composed.regions.map { $0.labels.map(\.classIndex) } == classified.labels.map { $0.map(\.classIndex) })
    }

    @Test func stageOutputsThroughBytes() throws {
        let (recognizer, image, request, directory) = try Self.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let direct = try recognizer.recognize(image: image, boxes: request.boxes, vocabulary: request.vocabulary, masks: true)
        for dtype in [TensorDType.f32, .f16] {
            // Class embeddings always travel in fp32: they are small, and the logit scale (100
            // here) multiplies their rounding (fp16 alone moves probabilities by 1.2e-3).
            func t(_ stage: Int) -> TensorDType { stage == 3 ? .f32 : dtype }
            let embedding = try StageSerialization.decodeImageEmbedding(
                StageSerialization.encode(recognizer.encodeImage(image), dtype: t(0)), source: "embedding", for: recognizer)
            let regions = try StageSerialization.decodeRegionTokens(
                StageSerialization.encode(recognizer.regionTokens(embedding, boxes: request.boxes, masks: true), dtype: t(1)), source: "regions")
            let tokens = try StageSerialization.decodeTensor(StageSerialization.encode(recognizer.tokenMap(image), name: "token_map", dtype: t(2)),
                                                             name: "token_map", source: "token map")
            let classes = try StageSerialization.decodeTensor(
                StageSerialization.encode(recognizer.classEmbeddings(for: request.vocabulary), name: "classes", dtype: t(3)),
                name: "classes", source: "classes")
            let classified = try recognizer.classify(maskTokens: regions.maskTokens, tokenMap: tokens, classEmbeddings: classes, topK: 5)
            if dtype == .f32 {
                #expect(classified.probabilities == direct.probabilities)
                #expect(regions.masks == direct.regions.map { $0.mask! })
                #expect(regions.maskScores == direct.regions.map(\.maskScore))
            } else {
                let difference = maxDifference(classified.probabilities, direct.probabilities)
                print("fp16 transport: max |Δ probability| \(difference)")
                #expect(difference < 1e-3)
            }
        }
        #expect(throws: StageSerialization.Error.self) {
            try StageSerialization.decodeRegionTokens(StageSerialization.encode(Tensor(shape: [2, 3]), name: "x"), source: "bad")
        }
    }

    @Test func manyThreadsGetWhatOneThreadGets() throws {
        let (recognizer, image, request, directory) = try Self.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocabularies = [request.vocabulary, ["cat", "dog"], Array(request.vocabulary.reversed()), ["a red thing", "a blue thing", "grass"]]
        // Results are bit-identical at the same thread budget (GEMM splits depend on it).
        let expected = try vocabularies.map {
            try Recognizer(bundle: recognizer.bundle, threads: 1).recognize(image: image, boxes: request.boxes, vocabulary: $0).probabilities
        }
        let fresh = try Recognizer(bundle: recognizer.bundle, threads: 1)
        _ = try fresh.classEmbeddings(for: vocabularies[0])  // cached; the others are not yet
        let results = ConcurrentSlots<Tensor>(count: 16)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            results[i] = try? fresh.recognize(image: image, boxes: request.boxes, vocabulary: vocabularies[i % vocabularies.count]).probabilities
        }
        for i in 0..<16 { #expect(results[i] == expected[i % vocabularies.count], "call \(i)") }
    }

    /// An engine shared under another thread budget (the daemon's stage workers) computes what a
    /// fresh one with that budget does, from the same class-embedding cache.
    @Test func aSharedEngineHasItsOwnBudgetAndTheSameCache() throws {
        let (recognizer, image, request, directory) = try Self.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shared = recognizer.sharing(threads: 1)
        let fresh = try Recognizer(bundle: recognizer.bundle, threads: 1)
        let expected = try fresh.recognize(image: image, boxes: request.boxes, vocabulary: request.vocabulary).probabilities
        #expect(shared.threads == 1)
        #expect(try shared.recognize(image: image, boxes: request.boxes, vocabulary: request.vocabulary).probabilities == expected)
        #expect(try recognizer.classEmbeddingLookup(request.vocabulary).cached)
    }

    /// A vocabulary being computed holds up only its own callers.
    @Test func aCachedVocabularyNeverWaitsForAnUncachedOne() throws {
        let (recognizer, _, _, directory) = try Self.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clip = try CLIP(file: recognizer.bundle.clipURL)
        let tokenizer = try SimpleTokenizer.bundled()
        let context = try clip.textTower().configuration.contextLength
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let embeddings = try ClassEmbeddings(text: clip.textTower(), identity: "test", templates: ["a {}."]) { prompt in
            if prompt.contains("slow") { entered.signal(); release.wait() }
            return try tokenizer.tokenize(prompt, contextLength: context)
        }
        let cached = try embeddings.embeddings(for: ["cat"])
        let slow = ConcurrentSlots<Tensor>(count: 1)
        let finished = DispatchSemaphore(value: 0)
        Thread { slow[0] = try? embeddings.embeddings(for: ["slow"]); finished.signal() }.start()
        entered.wait()  // the uncached vocabulary is being computed, and blocked
        let lookup = try embeddings.lookup(["cat"])  // returns while the other waits
        #expect(lookup.cached && lookup.embeddings == cached)
        release.signal()
        finished.wait()
        #expect(slow[0] != nil && embeddings.computations == 2)
    }
}

/// Results written by concurrent workers, one slot each.
final class ConcurrentSlots<Value>: @unchecked Sendable {
    private var values: [Value?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    subscript(index: Int) -> Value? {
        get { lock.lock(); defer { lock.unlock() }; return values[index] }
        set { lock.lock(); values[index] = newValue; lock.unlock() }
    }
}
