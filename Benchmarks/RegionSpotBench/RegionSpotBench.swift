import ArgumentParser
import Foundation
import Tensors

/// Side-by-side measurements. Each benchmark is one subcommand in its own file; the scripts
/// Benchmarks/*.sh run it next to the reference implementation and print both figures.
@main
struct RegionSpotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regionspot-bench",
        abstract: "RegionSpot benchmarks (run through Benchmarks/*.sh to compare with the references).",
        subcommands: [
            GEMMPeak.self,
            IOBenchmark.self,
            SAMBenchmark.self,
            AttentionBenchmark.self,
            ImagingBenchmark.self,
            KernelsBenchmark.self,
            EvalBenchmark.self,
            PipelineBenchmark.self,
            RecognitionLoopBenchmark.self,
            ServeLoadBenchmark.self,
            CLIPBenchmark.self,
            TrainBenchmark.self,
            TrainPrecomputeBenchmark.self,
        ]
    )

    static func main() {
        ProcessStartup.prepare()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

struct GEMMPeak: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm-peak", abstract: "Sustained 1024³ sgemm GFLOP/s.")
    @Option var seconds: Double = 2
    func run() {
        print(String(format: "gemm-peak %.1f GFLOP/s (kernel %@)", GEMMThroughput.measure(size: 1024, seconds: seconds), BLASRuntime.coreName))
    }
}
