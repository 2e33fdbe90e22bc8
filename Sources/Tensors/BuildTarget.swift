/// The CPU the kernels were compiled for (Package.swift's `-target-cpu`, chosen on the building
/// machine). Executables check it at start: AVX-512 code on an AVX2-only CPU dies with SIGILL.
public enum BuildTarget {
    #if REGIONSPOT_AVX512
    public static let name = "AVX-512 (skylake-avx512)"
    public static let requiredCPUFeatures = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
    #else
    public static let name = "AVX2 (haswell)"
    public static let requiredCPUFeatures = ["avx2", "fma"]
    #endif

    /// Why this build cannot run on this CPU, or nil when it can (or /proc/cpuinfo is unreadable).
    public static func unsupportedCPUReason(features: Set<String> = BLASRuntime.cpuFeatures()) -> String? {
        let missing = requiredCPUFeatures.filter { !features.contains($0) }
        guard !features.isEmpty, !missing.isEmpty else { return nil }
        return "this build was compiled for \(name) and this CPU lacks \(missing.joined(separator: ", ")); "
            + "rebuild on this machine, or with REGIONSPOT_TARGET_CPU=haswell for any AVX2 CPU"
    }
}
