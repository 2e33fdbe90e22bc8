import Foundation

/// CPU time of this process, for the utilisation that benchmarks and batch runs report.
public enum CPUTime {
    /// Seconds of CPU every thread of this process has used so far (user and system).
    public static func processSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
