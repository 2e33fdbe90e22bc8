import Foundation

/// What every executable does first, before any kernel runs.
public enum ProcessStartup {
    /// Refuses (exit 1, with the reason on stderr) a CPU this build cannot run on, loads the best
    /// verified OpenBLAS kernel (which may re-execute the program), and keeps freed memory for
    /// reuse by later tensors.
    public static func prepare() {
        if let reason = BuildTarget.unsupportedCPUReason() {
            FileHandle.standardError.write(Data("error: \(reason)\n".utf8))
            exit(1)
        }
        BLASRuntime.selectKernel()
        Allocator.retainFreedMemory()
    }
}
