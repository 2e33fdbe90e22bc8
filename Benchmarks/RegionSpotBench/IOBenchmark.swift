import ArgumentParser
import Checkpoints
import Foundation
import Tensors

/// Weight-file I/O at model sizes: safetensors load to Float32, torch.save and TorchScript
/// checkpoint reads, and .pth → .safetensors conversion. One line per case,
/// `name ms/run GB/s` (GB of input file), which Benchmarks/io.sh sets beside Python's figures.
struct IOBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io", abstract: "safetensors load, checkpoint read and convert, beside Python (Benchmarks/io.sh).")

    @Option(help: "A .safetensors file to load.") var safetensors: String
    @Option(help: "A torch.save checkpoint (.pth) to read and convert.") var checkpoint: String
    @Option(help: "A TorchScript archive (.pt) to read.") var torchscript: String
    @Option(help: "Timed runs after one warm-up (best is reported).") var runs: Int = 3
    @Option(help: "Scratch directory for converted files.") var out: String = "Benchmarks/out/io"

    func run() throws {
        let converted = URL(fileURLWithPath: out).appendingPathComponent("converted_by_swift.safetensors")
        try report("safetensors-load", safetensors) { try SafeTensorsFile(url: $0).tensors().count }
        try report("pth-read", checkpoint) { try Checkpoint.read($0).count }
        try report("torchscript-read", torchscript) { try Checkpoint.read($0).count }
        try report("pth-convert", checkpoint) { try Checkpoint.convert($0, to: converted).tensorCount }
    }

    private func report(_ name: String, _ path: String, _ body: (URL) throws -> Int) throws {
        let url = URL(fileURLWithPath: path)
        let size = Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        var tensors = try body(url)  // warm-up: page cache and allocator
        var best = Double.infinity
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            tensors = try body(url)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(String(format: "%@ %.1f ms %.2f GB/s (%d tensors)", name, best * 1e3, size / best / 1e9, tensors))
    }
}
