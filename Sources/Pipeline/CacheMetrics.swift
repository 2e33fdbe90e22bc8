import Metrics

/// Cache hits and misses through swift-metrics, whatever backend the daemon bootstrapped:
/// `regionspot_cache_hits_total` and `regionspot_cache_misses_total`, dimension `cache`.
/// The counter is made at each count (backends hand back the same one for the same label and
/// dimensions), so that counts made before the backend is bootstrapped are not lost to a no-op.
enum CacheMetrics {
    static let imageEmbeddings = "image_embeddings"
    static let classEmbeddings = "class_embeddings"

    static func count(hit: Bool, cache: String) {
        Counter(label: hit ? "regionspot_cache_hits_total" : "regionspot_cache_misses_total", dimensions: [("cache", cache)]).increment()
    }
}
