import ArgumentParser
import Foundation
import Tensors

/// Throughput of the Tensors kernels at model sizes: GB/s for the memory-bound ones beside a
/// memcpy baseline, GFLOP/s for convolutions beside the GEMM peak. One line per kernel,
/// `name shape ms/run figure unit`, which Benchmarks/kernels.sh sets beside PyTorch's.
struct KernelsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "Tensors kernels: GB/s vs memcpy, conv GFLOP/s vs GEMM peak.")

    @Option(help: "Seconds to repeat each kernel (after one warm-up run).") var seconds: Double = 1
    @Option(help: "Worker threads.") var threads: Int = 2

    func run() {
        Parallel.withThreads(threads) { measure() }
    }

    private func measure() {
        var generator = SplitMix64(seed: 3)
        let tokens = Tensor.random([4096, 768], using: &generator)
        let other = Tensor.random([4096, 768], using: &generator)
        let gamma = Tensor.random([768], using: &generator), beta = Tensor.random([768], using: &generator)
        let scores = Tensor.random([4096, 1024], in: -8...8, using: &generator)
        let hidden = Tensor.random([4096, 3072], in: -4...4, using: &generator)
        let big = Tensor.random([16 << 20], using: &generator)
        let float = MemoryLayout<Float>.size

        print(String(format: "gemm-peak 1024^3 - %.1f GFLOP/s", GEMMThroughput.measure(size: 1024, seconds: seconds)))
        // memcpy between buffers allocated once (our kernels allocate their outputs each run).
        var copy = [Float](repeating: 0, count: big.count)
        report("memcpy", "64MiB", bytes: 2 * big.count * float) {
            copy.withUnsafeMutableBufferPointer { target in
                big.scalars.withUnsafeBufferPointer { source in
                    _ = memcpy(target.baseAddress!, source.baseAddress!, big.count * float)
                }
            }
            return copy.count
        }
        report("add", "4096x768", bytes: 3 * tokens.count * float) { (tokens + other).count }
        report("layerNorm", "4096x768", bytes: 2 * tokens.count * float) { tokens.layerNorm(weight: gamma, bias: beta).count }
        report("softmax", "4096x1024", bytes: 2 * scores.count * float) { scores.softmax().count }
        report("gelu", "4096x3072", bytes: 2 * hidden.count * float) { hidden.gelu().count }
        report("quickGelu", "4096x3072", bytes: 2 * hidden.count * float) { hidden.quickGelu().count }
        let planes = Tensor.random([256, 64, 64], using: &generator)
        report("layerNorm2d", "256x64x64", bytes: 2 * planes.count * float) { planes.layerNorm2d(weight: nil, bias: nil).count }
        report("permute", "64x64x768->768x4096", bytes: 2 * tokens.count * float) {
            tokens.reshaped([64, 64, 768]).permuted([2, 0, 1]).count
        }

        // Convolutions at model sizes: SAM neck 3×3, ViT patch embedding, TinyViT depthwise.
        let neckWeight = Tensor.random([256, 256, 3, 3], using: &generator)
        report("conv3x3", "256x64x64->256", flops: 2 * 256 * 256 * 9 * 64 * 64) {
            planes.conv2d(weight: neckWeight, padding: 1).count
        }
        let image = Tensor.random([3, 1024, 1024], using: &generator)
        let patchWeight = Tensor.random([768, 3, 16, 16], using: &generator)
        report("conv16x16s16", "3x1024x1024->768", flops: 2 * 768 * 768 * 64 * 64) {
            image.conv2d(weight: patchWeight, stride: 16).count
        }
        let stem = Tensor.random([32, 3, 3, 3], using: &generator)
        report("conv3x3s2", "3x1024x1024->32", flops: 2 * 32 * 27 * 512 * 512) {
            image.conv2d(weight: stem, stride: 2, padding: 1).count
        }
        let maps = Tensor.random([256, 256, 256], using: &generator)
        let depthwise = Tensor.random([256, 1, 3, 3], using: &generator)
        report("depthwise3x3", "256x256x256", flops: 2 * 9 * maps.count) {
            maps.conv2d(weight: depthwise, padding: 1, groups: 256).count
        }
        let upWeight = Tensor.random([256, 64, 2, 2], using: &generator)
        report("convTranspose2x2", "256x64x64->64", flops: 2 * 256 * 64 * 4 * 64 * 64) {
            planes.convTranspose2x2(weight: upWeight).count
        }

        let masks = Tensor.random([4, 256, 256], using: &generator)
        report("bilinear", "4x256x256->1024", bytes: (masks.count + 4 * 1024 * 1024) * float) {
            masks.interpolated(height: 1024, width: 1024, mode: .bilinear).count
        }
        report("bicubic", "4x256x256->1024", bytes: (masks.count + 4 * 1024 * 1024) * float) {
            masks.interpolated(height: 1024, width: 1024, mode: .bicubic).count
        }
        let x = Tensor.random([197, 768], using: &generator)
        let w = Tensor.random([3072, 768], using: &generator), b = Tensor.random([3072], using: &generator)
        report("linear", "197x768->3072", flops: 2 * 197 * 768 * 3072) { x.linear(weight: w, bias: b).count }
    }

    /// Runs `body` once to warm up, then repeatedly for `seconds`; prints ms/run and the rate.
    private func report(_ name: String, _ shape: String, bytes: Int? = nil, flops: Int? = nil, _ body: () -> Int) {
        var sink = body()
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            sink &+= body()
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        let perRun = elapsed / Double(runs)
        if let bytes {
            print(String(format: "%@ %@ %.3f %.2f GB/s", name, shape, perRun * 1e3, Double(bytes) / perRun / 1e9))
        } else if let flops {
            print(String(format: "%@ %@ %.3f %.2f GFLOP/s", name, shape, perRun * 1e3, Double(flops) / perRun / 1e9))
        }
        if sink == 42 { print("") }  // keeps the results observable
    }
}
