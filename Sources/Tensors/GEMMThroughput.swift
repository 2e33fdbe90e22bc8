import Foundation

/// Measures sustained sgemm throughput: the "GEMM peak" that benchmarks report beside their figures.
public enum GEMMThroughput {
    /// GFLOP/s of `size`³ products through `GEMM.sgemm`, after one warm-up, over about `seconds`.
    public static func measure(size: Int = 1024, seconds: Double = 1.0) -> Double {
        var generator = SplitMix64(seed: 1)
        let a = (0..<(size * size)).map { _ in Float.random(in: -1...1, using: &generator) }
        let b = (0..<(size * size)).map { _ in Float.random(in: -1...1, using: &generator) }
        var c = [Float](repeating: 0, count: size * size)
        let product = {
            GEMM.sgemm(m: size, n: size, k: size, a: a, lda: size, b: b, ldb: size, c: &c, ldc: size)
        }
        product()
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            product()
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return 2.0 * Double(size * size * size) * Double(runs) / elapsed / 1e9
    }
}
