import CMalloc

/// How the process allocator treats tensor-sized blocks.
///
/// glibc serves every block above 32 MB (and, until its threshold adapts, above 128 KB) with a
/// fresh mmap and unmaps it on free, so each large temporary is faulted in page by page again:
/// 0.4 s of a 3.2 s SAM ViT-B encode. Inference allocates the same sizes image after image, so
/// executables keep freed memory for reuse instead. The resident size then stays at its peak.
///
/// Only the main arena can keep such blocks: a thread's own arena lives in heaps of at most
/// 64 MB, so glibc maps anything larger afresh and unmaps it on free whatever the settings. A
/// recognition on a worker thread (watch jobs, the daemon's stages) faulted in ~750 MB more per
/// ViT-B image than the same work on the main thread. So every thread allocates from the main
/// arena; tensors are few and large, so its lock is not contended.
public enum Allocator {
    /// Serve all blocks from the main heap and never give freed memory back to the system.
    /// Call once at start-up, before threads start allocating. Returns false if glibc refused.
    @discardableResult
    public static func retainFreedMemory() -> Bool {
        mallopt(M_ARENA_MAX, 1) == 1 && mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, Int32.max) == 1
    }
}
