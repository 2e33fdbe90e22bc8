import ArgumentParser
import Foundation
import Tensors

/// Attention over a long sequence (SAM's global blocks: 4,096 tokens), or over a batch of short
/// ones (its windowed blocks: `--sequences 25 --tokens 196`), against GEMM peak.
struct AttentionBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention", abstract: "Tiled attention throughput and the call's peak memory.")

    @Option var tokens = 4096
    @Option(help: "Independent sequences per call.") var sequences = 1
    @Option var heads = 12
    @Option var headDim = 64
    @Option var seconds: Double = 3

    func run() {
        var generator = SplitMix64(seed: 11)
        let width = heads * headDim
        let shape = sequences == 1 ? [tokens, width] : [sequences, tokens, width]
        let q = Tensor.random(shape, using: &generator)
        let k = Tensor.random(shape, using: &generator)
        let v = Tensor.random(shape, using: &generator)
        _ = Attention.multiHead(queries: q, keys: k, values: v, heads: heads)  // warm-up

        // Peak resident memory of one call, above what was resident before it.
        let before = MemoryUsage.resetPeak()
        _ = Attention.multiHead(queries: q, keys: k, values: v, heads: heads)
        let peakBytes = MemoryUsage.peakResidentBytes() - before

        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            _ = Attention.multiHead(queries: q, keys: k, values: v, heads: heads)
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        let perCall = elapsed / Double(runs)
        // Two products per head: QKᵀ and PV, 2·N²·d multiply-adds each.
        let gflops = 4.0 * Double(sequences * tokens * tokens * width) / perCall / 1e9
        let peak = GEMMThroughput.measure(size: 1024, seconds: 1)
        print(String(format: "attention %d × %d tokens × %d heads × %d dims: %.1f ms/call, %.1f GFLOP/s (%.0f%% of GEMM peak %.1f GFLOP/s); call peak memory %.1f MiB (output %.1f MiB)",
                     sequences, tokens, heads, headDim, perCall * 1e3, gflops, 100 * gflops / peak, peak,
                     Double(peakBytes) / 1048576, Double(sequences * tokens * width * 4) / 1048576))
    }
}
