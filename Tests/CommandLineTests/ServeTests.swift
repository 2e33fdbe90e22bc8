import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// `regionspot serve` and `regionspot client` as processes on 127.0.0.1: the client prints what
/// predict prints, the README's Python client gets the same labels, and the daemon's limits hold.
@Suite(.serialized) struct ServeTests {
    @Test func clientPrintsWhatPredictPrints() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline())
        let common = [TinyBundle.image.path, "--boxes", fixture.boxes, "--vocab", fixture.vocabulary.joined(separator: ","), "--top-k", "3", "--masks"]
        let predicted = try Executable.run(["predict", "--model", fixture.bundle.path, "--threads", "1", "--no-disk-cache"] + common)
        try #require(predicted.status == 0, "\(predicted.standardError)")
        let served = try Executable.run(["client", "--connect", fixture.frontend] + common)
        try #require(served.status == 0, "\(served.standardError)")
        #expect(served.standardOutput == predicted.standardOutput)

        let health = try Executable.run(["client", "--connect", fixture.frontend, "--health"])
        #expect(health.status == 0, "\(health.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(health.standardOutput.utf8)) as! [String: Any]
        #expect(report["ready"] as? Bool == true && report["draining"] as? Bool == false)
        #expect((report["stages"] as? [[String: Any]])?.map { $0["workers"] as? Int } == [1, 1, 1])
    }
}
