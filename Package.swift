// swift-tools-version:6.0
import Foundation
import PackageDescription

// OpenCV 4 headers live under include/opencv4 on Debian; the -dev packages we install
// (core, imgproc, imgcodecs) ship no pkg-config file, so the path is given directly.
let openCVFlags: [CXXSetting] = [.unsafeFlags(["-I/usr/include/opencv4", "-std=c++17", "-O2"])]
let openCVLibraries: [LinkerSetting] = [
    .linkedLibrary("opencv_core"), .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_imgcodecs"),
]
// Kernels need AVX2/FMA code generation to vectorise (Swift targets plain x86-64 by default,
// which leaves elementwise loops 4-8× slower). Where the building machine has AVX-512 they are
// compiled for it (SAM encoders 5-11% faster, measured); REGIONSPOT_TARGET_CPU=haswell builds
// for any AVX2 machine instead. The executables check the CPU they run on at start.
let buildCPUFlags: Set<String> = {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let line = info.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    return Set(line.split(separator: " ").map(String.init))
}()
let targetCPU = ProcessInfo.processInfo.environment["REGIONSPOT_TARGET_CPU"]
    ?? (["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(buildCPUFlags.contains) ? "skylake-avx512" : "haswell")
let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", targetCPU], .when(configuration: .release))]
    + (targetCPU == "skylake-avx512" ? [.define("REGIONSPOT_AVX512", .when(configuration: .release))] : [])

let package = Package(
    name: "RegionSpot",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "regionspot", targets: ["regionspot"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        // C shims over system libraries, and CRC-32 in C: the C++ image probe and Swift's
        // Compression both check it, with this one function.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .target(name: "CChecksum", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CVision", dependencies: ["CChecksum"], cxxSettings: openCVFlags,
                linkerSettings: openCVLibraries + [.linkedLibrary("jpeg")]),

        // Libraries, in dependency order: each depends only on those above it (and the C
        // targets). Images and masks (Imaging) sit below SAM, Evaluation and RegionSpot.
        .target(name: "Compression", dependencies: ["CChecksum"], swiftSettings: optimized),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CMalloc"], swiftSettings: optimized),
        .target(name: "Layers", dependencies: ["Tensors"], swiftSettings: optimized),
        .target(name: "Checkpoints", dependencies: ["Compression", "Tensors"], swiftSettings: optimized),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // Generated from Protos/ by Tools/generate-protos.sh; committed, never generated in the build.
        .target(name: "PipelineProtocol", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "Imaging", dependencies: ["CVision", "Tensors"], swiftSettings: optimized),
        .target(name: "CLIP", dependencies: ["Compression", "Tensors", "Layers", "Imaging"], resources: [.copy("Resources/bpe_simple_vocab_16e6.txt.gz")], swiftSettings: optimized),
        .target(name: "SAM", dependencies: ["Tensors", "Layers", "Imaging"], swiftSettings: optimized),
        .target(name: "Evaluation", dependencies: ["Tensors", "Imaging"], swiftSettings: optimized),
        .target(name: "RegionSpot", dependencies: ["Tensors", "Layers", "Imaging", "Checkpoints", "CLIP", "SAM"], swiftSettings: optimized),
        // The daemon: topology files, the broker, stage workers and the client, over ZeroMQ. It logs
        // and counts through the swift-log and swift-metrics APIs only; the executable picks the backends.
        .target(name: "Pipeline", dependencies: ["ZeroMQ", "PipelineProtocol", "Tensors", "Imaging", "CLIP", "SAM", "RegionSpot",
                                                 .product(name: "Yams", package: "Yams"),
                                                 .product(name: "Logging", package: "swift-log"),
                                                 .product(name: "Metrics", package: "swift-metrics")]),
        // The daemon's HTTP side (/metrics in Prometheus text, /healthz, /readyz) on its own event loop.
        .target(name: "Monitoring", dependencies: [
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Recognizing a whole dataset into one results file (predict --dataset), and the inbox watcher.
        .target(name: "Batch", dependencies: ["RegionSpot", "Evaluation", "Imaging", "SAM", "Tensors"]),
        .target(name: "Watch", dependencies: ["Batch", "RegionSpot", "SAM", "Evaluation", "Imaging", "Tensors"]),
        .target(name: "Training", dependencies: ["Compression", "Tensors", "Layers", "Imaging", "Evaluation", "RegionSpot"], swiftSettings: optimized),
        // The demo's synthetic long-tail world (`regionspot synth`).
        .target(name: "SyntheticWorld", dependencies: ["Tensors", "Imaging"], swiftSettings: optimized),

        // The thin executable and the benchmarks.
        .executableTarget(name: "regionspot", dependencies: [
            "Tensors", "ZeroMQ", "Imaging", "SAM", "Checkpoints", "Evaluation", "CLIP", "RegionSpot", "Pipeline", "PipelineProtocol",
            "Batch", "Watch", "Training", "SyntheticWorld", "Monitoring",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], resources: [.copy("DemoBundle")]),  // the embedded default model (see DemoBundle.swift)

        .executableTarget(name: "RegionSpotBench", dependencies: [
            "Tensors", "Checkpoints", "Imaging", "CLIP", "SAM", "Evaluation", "RegionSpot", "Training", "ZeroMQ", "PipelineProtocol",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Benchmarks/RegionSpotBench", swiftSettings: optimized),

        // Tests: one target per library, plus end-to-end tests of the executable, and the
        // helpers they share (tolerance measures).
        .target(name: "TestSupport", dependencies: ["Tensors", "Layers", "Imaging", "Compression"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "TestSupport"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Compression", "Tensors"], exclude: ["Fixtures"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Tensors"], exclude: ["Fixtures"]),
        .testTarget(name: "RegionSpotTests", dependencies: ["RegionSpot", "Training", "Layers", "Checkpoints", "Tensors", "Imaging", "CLIP", "SAM", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Compression", "Tensors", "Imaging", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SAMTests", dependencies: ["SAM", "Tensors", "Imaging", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Imaging", "Tensors"], exclude: ["Fixtures"]),
        .testTarget(name: "SyntheticWorldTests", dependencies: ["SyntheticWorld", "Evaluation", "Imaging", "RegionSpot", "Tensors"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "PipelineProtocolTests", dependencies: ["PipelineProtocol"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "PipelineProtocol", "Imaging", "SAM", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RegionSpot", "Evaluation", "Layers", "Tensors", "TestSupport"], exclude: ["Fixtures"]),
        // Runs the built `regionspot` executable as a real process.
        .testTarget(name: "CommandLineTests", dependencies: ["regionspot", "Imaging", "Tensors", "TestSupport", "ZeroMQ", "PipelineProtocol", "Pipeline", "RegionSpot"],
                    exclude: ["Fixtures"]),
    ],
    cxxLanguageStandard: .cxx17
)
