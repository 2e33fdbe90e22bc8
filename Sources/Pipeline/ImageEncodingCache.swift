import Foundation
import Tensors

/// The encoders' outputs by image (`caches.image_embeddings`): SAM's image embedding and CLIP's
/// token map, keyed by the SHA-256 the broker computed of the image's encoded bytes, in one LRU
/// bounded by bytes and shared by the stage workers of a process. A client that asks about new
/// boxes or a new vocabulary on an image seen before pays only for the decoder and fusion.
public final class ImageEncodingCache: Sendable {
    /// What is kept of one image per encoder.
    enum Encoding: Sendable {
        /// SAM's embedding [E, g, g] with the sizes `Recognizer.imageEmbedding` needs to use it again
        /// (the decoder's per-image projections are recomputed from it: a few ms, a third of the bytes).
        case sam(embedding: Tensor, inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int))
        /// CLIP's token map [1 + g², D].
        case clip(tokenMap: Tensor)

        var bytes: Int {
            switch self {
            case .sam(let embedding, _, _): embedding.count * MemoryLayout<Float>.size
            case .clip(let tokenMap): tokenMap.count * MemoryLayout<Float>.size
            }
        }
    }

    struct Key: Hashable, Sendable {
        enum Encoder: Hashable, Sendable { case sam, clip }
        let digest: Data
        let encoder: Encoder
    }

    private let entries: MemoizingCache<Key, Encoding>

    /// Holds up to `capacityBytes` of encoder outputs; 0 keeps none.
    public init(capacityBytes: Int) {
        entries = MemoizingCache(capacity: capacityBytes) { $0.bytes }
    }

    /// Entries held, their bytes, and lookups (none while the capacity is 0).
    public var usage: CacheUsage { entries.usage }

    /// The cached encoding of the image with `digest`, else `compute`'s (kept for next time);
    /// `hit` says it came from the cache. An image without a digest is computed and not kept.
    func encoding(digest: Data, encoder: Key.Encoder, compute: () throws -> Encoding) throws -> (encoding: Encoding, hit: Bool) {
        guard !digest.isEmpty, entries.capacity > 0 else { return (try compute(), false) }
        let (encoding, hit) = try entries.value(for: Key(digest: digest, encoder: encoder), compute: compute)
        CacheMetrics.count(hit: hit, cache: CacheMetrics.imageEmbeddings)
        return (encoding, hit)
    }
}
