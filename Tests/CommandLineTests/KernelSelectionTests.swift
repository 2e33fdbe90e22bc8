import Foundation
import Testing
import Tensors

/// `regionspot` picks the best OpenBLAS kernel the CPU supports at start-up, whatever kernel the
/// environment pinned, unless REGIONSPOT_BLAS_KERNEL pins one.
@Suite struct KernelSelectionTests {
    static func kernelLine(_ output: String) -> String? {
        output.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("kernel:") }.map(String.init)
    }

    @Test func replacesASlowInheritedKernel() throws {
        let best = try #require(BLASRuntime.supportedKernels().first)
        let result = try Executable.run(["doctor", "--seconds", "0.05"], environment: ["OPENBLAS_CORETYPE": "Prescott",
                                                                                     "REGIONSPOT_BLAS_KERNEL": nil])
        #expect(result.status == 0, "\(result.standardError)")
        let line = try #require(Self.kernelLine(result.standardOutput), "\(result.standardOutput)")
        #expect(line.contains("kernel:  \(best) "), "\(line)")
        if best != "Prescott" { #expect(line.contains("replaces OPENBLAS_CORETYPE=Prescott")) }
        #expect(result.standardOutput.contains("verified: yes"))
    }

    @Test func theProgramsOwnVariablePinsAKernel() throws {
        let result = try Executable.run(["doctor", "--seconds", "0.05"], environment: ["REGIONSPOT_BLAS_KERNEL": "Prescott"])
        #expect(result.status == 0, "\(result.standardError)")
        let line = try #require(Self.kernelLine(result.standardOutput), "\(result.standardOutput)")
        #expect(line.contains("kernel:  Prescott (pinned by REGIONSPOT_BLAS_KERNEL=Prescott)"), "\(line)")
    }
}
