import COpenBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which OpenBLAS kernel the process runs, and why.
///
/// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise recent CPUs and falls back to
/// its SSE3 "Prescott" kernels, about 5× slower than the AVX2/AVX-512 ones. OpenBLAS reads
/// `OPENBLAS_CORETYPE` only when it is loaded, so `selectKernel` (called first thing by the
/// executable) picks the best kernel the CPU supports, proves it computes correctly in a child
/// process, and re-executes the program with it. An inherited `OPENBLAS_CORETYPE` is replaced
/// when the CPU runs a better kernel: environments often pin a conservative one (e.g. Haswell on
/// an AVX-512 machine, 0.58× the GEMM throughput). `REGIONSPOT_BLAS_KERNEL` pins a kernel.
public enum BLASRuntime {
    /// The variable OpenBLAS reads at load time to choose its kernel.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Pins a kernel for this program, bypassing selection (e.g. to compare or work around a bug).
    public static let forceVariable = "REGIONSPOT_BLAS_KERNEL"
    /// Set on the re-executed process: the reason the kernel was chosen.
    static let reasonVariable = "REGIONSPOT_BLAS_REASON"
    /// Set on a probe child: verify the loaded kernel and exit 0 (correct) or 1.
    static let probeVariable = "REGIONSPOT_BLAS_PROBE"

    /// Kernels to try, best first, each with the CPU features it needs.
    public static let candidates: [(name: String, features: [String])] = [
        // Cooperlake is SkylakeX plus bf16 kernels (same sgemm); listed so its detection is kept.
        ("Cooperlake", ["avx512_bf16", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]),
        ("SkylakeX", ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]),
        ("Haswell", ["avx2", "fma"]),
        ("Sandybridge", ["avx"]),
        ("Prescott", []),
    ]

    /// OpenBLAS's name for the kernel it is running (e.g. "Haswell", "Prescott").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration, which starts with its version.
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// Why the running kernel was chosen (set by `selectKernel`).
    public static var selectionReason: String {
        if let reason = ProcessInfo.processInfo.environment[reasonVariable] { return reason }
        if let inherited = ProcessInfo.processInfo.environment[coreTypeVariable] { return "\(coreTypeVariable)=\(inherited)" }
        return "OpenBLAS's own detection (kernel selection did not run in this process)"
    }

    private static let configured: Void = {
        // One policy for threads: our kernels split work; OpenBLAS runs each call on one thread.
        openblas_set_num_threads(1)
    }()

    /// Sets OpenBLAS to single-threaded mode once per process.
    @inline(__always) public static func ensureConfigured() { _ = configured }

    /// CPU feature flags as the kernel reports them in /proc/cpuinfo.
    public static func cpuFeatures() -> Set<String> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// The kernels this CPU can run, best first.
    public static func supportedKernels(features: Set<String> = cpuFeatures()) -> [String] {
        candidates.filter { $0.features.allSatisfy(features.contains) }.map(\.name)
    }

    /// Checks the loaded kernel on small odd-shaped products against a double-precision loop,
    /// covering all four transpose combinations.
    public static func verifyKernel() -> Bool {
        ensureConfigured()
        var generator = SplitMix64(seed: 0x5eed)
        for (m, n, k) in [(67, 45, 83), (128, 96, 64), (5, 300, 17)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
                    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
                    var c = [Float](repeating: 0, count: m * n)
                    GEMM.serial(m: m, n: n, k: k, a: a, lda: transA ? m : k, transA: transA,
                                b: b, ldb: transB ? k : n, transB: transB, c: &c, ldc: n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var expected = 0.0
                            for p in 0..<k {
                                let x = Double(transA ? a[p * m + i] : a[i * k + p])
                                let y = Double(transB ? b[j * k + p] : b[p * n + j])
                                expected += x * y
                            }
                            if !(abs(Double(c[i * n + j]) - expected) <= 1e-4 * Double(k).squareRoot()) { return false }
                        }
                    }
                }
            }
        }
        return true
    }

    /// Call first thing in `main`. Returns normally when the process should go on (the right
    /// kernel is loaded, or nothing better can be had); otherwise replaces the process image.
    public static func selectKernel(arguments: [String] = CommandLine.arguments) {
        let environment = ProcessInfo.processInfo.environment
        if environment[probeVariable] != nil {
            exit(verifyKernel() ? 0 : 1)
        }
        // Already chosen by us before the re-exec: keep it.
        if environment[reasonVariable] != nil { return }
        let current = coreName
        if let forced = environment[forceVariable] {
            let reason = "pinned by \(forceVariable)=\(forced)"
            setenv(reasonVariable, reason, 1)
            if forced.caseInsensitiveCompare(current) != .orderedSame {
                setenv(coreTypeVariable, forced, 1)
                reexec(arguments: arguments)
            }
            return
        }
        let inherited = environment[coreTypeVariable].map { "\(coreTypeVariable)=\($0) from the environment" }
        for kernel in supportedKernels() {
            if kernel.caseInsensitiveCompare(current) == .orderedSame {
                setenv(reasonVariable, "\(inherited ?? "OpenBLAS detected \(current)"): the best kernel this CPU supports", 1)
                return
            }
            guard probe(kernel: kernel) else { continue }
            setenv(coreTypeVariable, kernel, 1)
            setenv(reasonVariable, "\(inherited.map { "replaces \($0)" } ?? "OpenBLAS detected \(current)"); "
                   + "CPU supports \(kernel), verified on a test product; \(forceVariable) pins a kernel", 1)
            reexec(arguments: arguments)
            return  // exec failed: go on with the loaded kernel
        }
        setenv(reasonVariable, "no better kernel verified; running \(current)", 1)
    }

    /// Runs this executable in a child process with `kernel` loaded; true if its products are correct.
    static func probe(kernel: String) -> Bool {
        runChild(kernel: kernel, environment: [probeVariable: "1"])?.succeeded ?? false
    }

    /// How a child process run with a chosen kernel ended, and what it printed.
    public struct ChildResult: Sendable {
        /// Exited (not killed by a signal) with status 0.
        public let succeeded: Bool
        public let status: Int32
        public let standardOutput: String
    }

    /// Runs this executable again with `arguments`, `kernel` loaded and `environment` added; nil
    /// when it cannot be started. Its standard error is discarded.
    public static func runChild(kernel: String, arguments: [String] = [], environment extra: [String: String] = [:]) -> ChildResult? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment[coreTypeVariable] = kernel
        environment.merge(extra) { $1 }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ChildResult(succeeded: process.terminationReason == .exit && process.terminationStatus == 0,
                           status: process.terminationStatus, standardOutput: String(decoding: data, as: UTF8.self))
    }

    private static func reexec(arguments: [String]) {
        let path = "/proc/self/exe"
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        execv(path, &cArguments)
        for pointer in cArguments { free(pointer) }
    }
}
