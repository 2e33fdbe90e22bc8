import Foundation
import Imaging
import PipelineProtocol
import RegionSpot
import Testing
import TestSupport

/// `caches.image_embeddings`: an image seen before costs only SAM's decoder and fusion, its reply
/// is the one an uncached daemon gives, and the cache holds no more than its bound.
@Suite(.serialized) struct ImageCacheTests {
    /// The fixture image with other pixels (the same size, so its encoder outputs are as large).
    static func otherImage() throws -> Data {
        let image = try RGBImage(decoding: Data(contentsOf: TinyBundle.image), source: "fixture image")
        return try RGBImage(width: image.width, height: image.height, pixels: image.pixels.map { 255 - $0 }).encoded(as: .png)
    }

    @Test func theSameImageWithNewBoxesIsAnsweredFromTheCache() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(imageEmbeddings: "64MiB"))
        let first = try fixture.call(fixture.recognizeRequest(boxes: [0, 1])).recognize
        let second = try fixture.call(fixture.recognizeRequest(boxes: [2, 3, 4])).recognize
        let newVocabulary = try fixture.call(fixture.recognizeRequest(vocabulary: fixture.freshNames(4), boxes: [2, 3, 4])).recognize
        for reply in [first, second, newVocabulary] { try fixture.expectOK(reply) }
        #expect(!first.timings.imageEmbeddingCacheHit && !first.timings.tokenMapCacheHit)
        #expect(second.timings.imageEmbeddingCacheHit && second.timings.tokenMapCacheHit, "\(second.timings)")
        #expect(newVocabulary.timings.imageEmbeddingCacheHit && newVocabulary.timings.tokenMapCacheHit
                && !newVocabulary.timings.classEmbeddingsCacheHit, "\(newVocabulary.timings)")
        print("image cache: SAM encoder \(first.timings.samEncoderMs) ms cold, \(second.timings.samEncoderMs) ms cached; "
              + "CLIP encoder \(first.timings.clipEncoderMs) ms cold, \(second.timings.clipEncoderMs) ms cached")

        try fixture.serve(pipeline: fixture.pipeline(imageEmbeddings: "0"))
        let uncached = try fixture.call(fixture.recognizeRequest(boxes: [2, 3, 4])).recognize
        try fixture.expectOK(uncached)
        #expect(!uncached.timings.imageEmbeddingCacheHit && !uncached.timings.tokenMapCacheHit)
        #expect(second.regions == uncached.regions)
        #expect(second.regions.count == 3)
    }

    /// A cache the size of one image's encoder outputs keeps one image: another evicts it; Stats
    /// counts its hits and misses.
    @Test func theCacheHoldsNoMoreThanItsBound() throws {
        let fixture = try DaemonFixture()
        let recognizer = try Recognizer(bundle: ModelBundle(directory: fixture.bundle), threads: 1)
        let image = try RGBImage(decoding: Data(contentsOf: TinyBundle.image), source: "fixture image")
        let bytesPerImage = try (recognizer.encodeImage(image).embedding.count + recognizer.tokenMap(image).count) * MemoryLayout<Float>.size
        try fixture.serve(pipeline: fixture.pipeline(imageEmbeddings: "\(bytesPerImage)"))
        let other = try Self.otherImage()
        func hits(_ image: Data? = nil) throws -> [Bool] {
            let reply = try fixture.call(fixture.recognizeRequest(image: image, boxes: [0])).recognize
            try fixture.expectOK(reply)
            return [reply.timings.imageEmbeddingCacheHit, reply.timings.tokenMapCacheHit]
        }
        #expect(try hits() == [false, false])
        #expect(try hits() == [true, true])
        #expect(try hits(other) == [false, false])
        #expect(try hits() == [false, false])  // the other image took its place
        #expect(try hits() == [true, true])

        // Stats: the daemon's caches, the warm-up request's image among the misses.
        let caches = try fixture.call(.with { $0.stats = .with { $0.requestID = "stats" } }).stats.caches
        #expect(caches.map(\.name) == ["image_embeddings", "class_embeddings"], "\(caches)")
        if let images = caches.first, let classes = caches.last {
            #expect(images.hits == 4 && images.misses >= 6 && images.entries == 2, "\(images)")
            #expect(images.bytes <= images.capacityBytes && images.capacityBytes == UInt64(bytesPerImage), "\(images)")
            #expect(classes.hits >= 4 && classes.misses >= 1 && classes.entries >= 1, "\(classes)")
        }
    }
}
