import Foundation
import Testing
import TestSupport
import ZeroMQ

/// `serve --curve-secret --curve-allow`: only clients and workers whose public key is in the
/// allow directory are served, and SIGHUP rereads it.
extension ServeTests {
    @Test func curveServesExactlyTheAllowedKeys() throws {
        try #require(ZeroMQLibrary.has("curve"))
        let fixture = try DaemonFixture()
        let keys = fixture.directory.appendingPathComponent("keys").path
        let allow = fixture.directory.appendingPathComponent("allowed").path
        try FileManager.default.createDirectory(atPath: allow, withIntermediateDirectories: true)
        for name in ["server", "other-server", "allowed", "unknown", "late", "worker"] {
            let made = try Executable.run(["keys", "generate", "--out", keys, "--name", name])
            try #require(made.status == 0, "\(made.standardError)")
        }
        func key(_ name: String, _ kind: String) -> String { "\(keys)/\(name).\(kind)" }
        let secret = try FileManager.default.attributesOfItem(atPath: key("server", "secret"))[.posixPermissions] as? Int
        #expect(secret == 0o600)
        for name in ["allowed", "worker"] {
            try FileManager.default.copyItem(atPath: key(name, "public"), toPath: "\(allow)/\(name).public")
        }

        // The fuse stage's worker connects over tcp with CURVE too, and so does the daemon's own
        // semantic worker (with the daemon's own key).
        try fixture.serve(pipeline: fixture.pipeline(remote: ["fuse"], endpoints: ["semantic": "tcp://127.0.0.1:*"]),
                          extra: ["--curve-secret", key("server", "secret"), "--curve-allow", allow, "--metrics-bind", "127.0.0.1:0"])
        let address = try metricsAddress(fixture.daemon!)
        let curveWorker = ["--curve-server-key", key("server", "public")]
        try fixture.startWorker("fuse", extra: curveWorker + ["--curve-secret", key("worker", "secret")])
        let intruder = try fixture.startWorker("fuse", extra: curveWorker + ["--curve-secret", key("unknown", "secret"),
                                                                             "--metrics-bind", "127.0.0.1:0"])
        let intruderAddress = try metricsAddress(intruder)
        try fixture.waitFor("ready with the allowed fuse worker") { try HTTPClient.get("http://\(address)/readyz").status == 200 }

        let request = [TinyBundle.image.path, "--boxes", fixture.boxes, "--vocab", fixture.vocabulary.joined(separator: ","), "--top-k", "3"]
        func client(_ curve: [String]) throws -> Executable.Result {
            try Executable.run(["client", "--connect", fixture.frontend, "--timeout-ms", "1500", "--retries", "0"] + curve + request)
        }
        let expected = try Executable.run(["predict", "--model", fixture.bundle.path, "--threads", "1", "--no-disk-cache"] + request)
        let allowed = try client(["--curve-server-key", key("server", "public"), "--curve-secret", key("allowed", "secret")])
        #expect(allowed.status == 0 && allowed.standardOutput == expected.standardOutput, "\(allowed.standardError)")

        let refused: [(String, [String])] = [
            ("an unknown key", ["--curve-server-key", key("server", "public"), "--curve-secret", key("unknown", "secret")]),
            ("plain text", []),
            ("the wrong server key", ["--curve-server-key", key("other-server", "public"), "--curve-secret", key("allowed", "secret")]),
        ]
        for (what, curve) in refused {
            let answer = try client(curve)
            #expect(answer.status != 0 && answer.standardOutput.isEmpty && answer.standardError.contains("no reply"),
                    "\(what): \(answer.standardOutput) \(answer.standardError)")
        }
        let again = try client(["--curve-server-key", key("server", "public"), "--curve-secret", key("allowed", "secret")])
        #expect(again.status == 0 && again.standardOutput == expected.standardOutput, "\(again.standardError)")
        let late = ["--curve-server-key", key("server", "public"), "--curve-secret", key("late", "secret")]
        #expect(try client(late).status != 0)

        // The worker with an unknown key never got in.
        #expect(try HTTPClient.get("http://\(intruderAddress)/readyz").status == 503)
        #expect(try PrometheusSamples.scrape(address)["regionspot_stage_workers{stage=\"fuse\"}"] == 1)
        #expect(fixture.daemon!.standardError.contains("refused a connection"))

        try FileManager.default.copyItem(atPath: key("late", "public"), toPath: "\(allow)/late.public")
        fixture.daemon!.signal(SIGHUP)
        try fixture.waitFor("the late key let in after SIGHUP", timeout: 30) { try client(late).status == 0 }
        #expect(fixture.daemon!.standardError.contains("reloaded the allowed client keys"))
    }

    @Test func curveAndMetricsOptionsAreCheckedAtStart() throws {
        let fixture = try DaemonFixture()
        let address = try Executable.run(["serve", "--model", fixture.bundle.path, "--metrics-bind", "localhost"])
        #expect(address.status != 0 && address.standardError.contains("--metrics-bind: expected HOST:PORT"), "\(address.standardError)")
        let half = try Executable.run(["serve", "--model", fixture.bundle.path, "--curve-secret", "/nonexistent.secret"])
        #expect(half.status != 0 && half.standardError.contains("--curve-allow"), "\(half.standardError)")
        let missing = try Executable.run(["serve", "--model", fixture.bundle.path, "--bind", "tcp://127.0.0.1:*",
                                          "--curve-secret", "/nonexistent.secret", "--curve-allow", fixture.directory.path])
        #expect(missing.status != 0 && missing.standardError.contains("/nonexistent.secret"), "\(missing.standardError)")
    }
}
