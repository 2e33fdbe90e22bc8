import ArgumentParser
import Foundation
import Tensors

@main
struct RegionSpotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regionspot",
        abstract: "Recognize any region of an image from an open vocabulary (RegionSpot on CPUs).",
        version: RegionSpotVersion.string,
        subcommands: [Doctor.self, Segment.self, Eval.self, Convert.self, Predict.self, Models.self, Embed.self]
    )

    static func main() {
        // The libraries are compiled for AVX2/FMA (x86-64-v3); say so instead of crashing.
        let features = BLASRuntime.cpuFeatures()
        if !features.isEmpty && !(features.contains("avx2") && features.contains("fma")) {
            print("error: this build of regionspot needs a CPU with AVX2 and FMA")
            Foundation.exit(1)
        }
        BLASRuntime.selectKernel()
        Allocator.retainFreedMemory()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

enum RegionSpotVersion {
    static let string = "0.1.0"
}
