import Foundation
import Tensors
import Testing
@testable import Pipeline

/// The image-embedding cache's key (SHA-256, on FIPS 180-4's examples) and its bound.
@Suite struct ImageEncodingCacheTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func sha256MatchesTheStandardsExamples() {
        #expect(Self.hex(SHA256.digest([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex(SHA256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex(SHA256.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex(SHA256.digest([UInt8](repeating: 0x61, count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func keepsNoMoreThanItsCapacityAndCountsHits() throws {
        let entry = ImageEncodingCache.Encoding.clip(tokenMap: Tensor(shape: [10, 10]))  // 400 bytes
        let cache = ImageEncodingCache(capacityBytes: 1000)
        var computed = 0
        func lookup(_ digest: UInt8, _ encoder: ImageEncodingCache.Key.Encoder = .clip) throws -> Bool {
            try cache.encoding(digest: Data([digest]), encoder: encoder) { computed += 1; return entry }.hit
        }
        #expect(try lookup(1) == false && lookup(1) == true)
        #expect(try lookup(2) == false && lookup(1, .sam) == false)  // the same image, another encoder: its own entry
        #expect(cache.usage.count == 2 && cache.usage.cost <= 1000)
        #expect(try lookup(1) == false)  // the least recently used, evicted by image 1's SAM entry
        #expect(cache.usage.count == 2 && cache.usage.cost <= 1000)
        #expect(try lookup(1, .sam) == true && computed == 4)
        #expect(cache.usage.hits == 2 && cache.usage.misses == 4)
        #expect(try cache.encoding(digest: Data(), encoder: .clip) { entry }.hit == false)  // no digest: never kept
        #expect(try cache.encoding(digest: Data(), encoder: .clip) { entry }.hit == false)

        let none = ImageEncodingCache(capacityBytes: 0)
        #expect(try none.encoding(digest: Data([1]), encoder: .clip) { entry }.hit == false)
        #expect(try none.encoding(digest: Data([1]), encoder: .clip) { entry }.hit == false && none.usage.count == 0)
    }
}
