import Foundation

/// Resident memory of this process, from /proc (Linux), for benchmarks and `doctor`.
public enum MemoryUsage {
    /// Current resident set size in bytes.
    public static func residentBytes() -> Int { statusField("VmRSS:") }

    /// Highest resident set size since start or since `resetPeak()`.
    public static func peakResidentBytes() -> Int { statusField("VmHWM:") }

    /// Resets the peak to the current resident size (writes 5 to /proc/self/clear_refs)
    /// and returns that size.
    @discardableResult
    public static func resetPeak() -> Int {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        return residentBytes()
    }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
}
