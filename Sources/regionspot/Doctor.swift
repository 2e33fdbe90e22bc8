import ArgumentParser
import Foundation
import Imaging
import Tensors
import ZeroMQ

extension RegionSpotCommand {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report library versions, the BLAS kernel in use and measured GEMM speed.")

        @Option(help: "Seconds to spend measuring GEMM throughput.")
        var seconds: Double = 1.0

        @Flag(help: "Also measure every kernel this CPU supports, each in a child process.")
        var compareKernels = false

        @Flag(help: .hidden)
        var gflopsOnly = false

        func run() throws {
            if gflopsOnly {
                print(String(format: "%.1f", GEMMThroughput.measure(size: 1024, seconds: seconds)))
                return
            }
            print("regionspot \(RegionSpotVersion.string), kernels compiled for \(BuildTarget.name)")
            print("OpenBLAS:  \(BLASRuntime.configuration)")
            print("  kernel:  \(BLASRuntime.coreName) (\(BLASRuntime.selectionReason))")
            print("  verified: \(BLASRuntime.verifyKernel() ? "yes" : "NO: products differ from the reference loop")")
            print("  threads: \(Parallel.threadCount)")
            print("libzmq:    \(ZeroMQLibrary.version), CURVE \(ZeroMQLibrary.has("curve") ? "yes" : "no")")
            print("OpenCV:    \(OpenCVLibrary.version)")
            let gflops = GEMMThroughput.measure(size: 1024, seconds: seconds)
            print(String(format: "GEMM 1024³: %.1f GFLOP/s", gflops))
            if compareKernels {
                let supported = BLASRuntime.supportedKernels()
                for kernel in BLASRuntime.candidates.map(\.name) where kernel != BLASRuntime.coreName {
                    let figure = supported.contains(kernel) ? measureInChild(kernel: kernel) + " GFLOP/s" : "not supported by this CPU"
                    print("  with \(BLASRuntime.coreTypeVariable)=\(kernel): \(figure)")
                }
            }
        }

        /// GEMM throughput of this executable re-run with `kernel` forced (for comparison).
        private func measureInChild(kernel: String) -> String {
            let arguments = ["doctor", "--gflops-only", "--seconds", String(seconds)]
            guard let child = BLASRuntime.runChild(kernel: kernel, arguments: arguments) else { return "could not start" }
            guard child.succeeded else { return "failed (signal or error \(child.status))" }
            return child.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
