import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// `--metrics-bind`: /metrics, /healthz and /readyz over HTTP, scraped with a real client, and the
/// structured log lines beside them.
extension ServeTests {
    /// While slow requests run, /metrics shows them in flight; afterwards the request, reply (by
    /// status code), stage and latency series have moved by what was sent, and every answer has
    /// its info line on stderr.
    @Test func metricsMoveUnderLoad() throws {
        let fixture = try DaemonFixture()
        try fixture.serve(pipeline: fixture.pipeline(), extra: ["--metrics-bind", "127.0.0.1:0"])
        let address = try metricsAddress(fixture.daemon!)
        #expect(try HTTPClient.get("http://\(address)/healthz").status == 200)
        let readiness = try HTTPClient.get("http://\(address)/readyz")
        #expect(readiness.status == 200 && readiness.body == "ready\n")
        #expect(try HTTPClient.get("http://\(address)/nothing-here").status == 404)

        let before = try PrometheusSamples.scrape(address)
        #expect(before.values.keys.contains { $0.hasPrefix("regionspot_blas_kernel{kernel=") })
        #expect(before["regionspot_stage_workers{stage=\"localize\"}"] == 1)
        let client = try AsyncClient(fixture)
        let requests = try (0..<6).map { _ in try fixture.recognizeRequest(vocabulary: fixture.slowVocabulary(seconds: 0.3)) }
        for request in requests { try client.send(request) }
        var during = before
        try fixture.waitFor("requests in flight on /metrics") {
            during = try PrometheusSamples.scrape(address)
            return during["regionspot_requests_in_flight"] >= 1
        }
        let replies = try client.receive(requests.count)
        for (reply, _) in replies.values { try fixture.expectOK(reply) }
        let malformed = try fixture.call(bytes: [0xff, 0xff, 0xff])
        #expect(malformed.error.status.code == .invalidArgument)

        let after = try PrometheusSamples.scrape(address)
        let ok = "regionspot_replies_total{code=\"OK\"}"
        // The slow vocabulary's probe request and the six.
        #expect(after[ok] - before[ok] == 7, "\(after[ok]) after, \(before[ok]) before")
        #expect(after["regionspot_replies_total{code=\"INVALID_ARGUMENT\"}"] - before["regionspot_replies_total{code=\"INVALID_ARGUMENT\"}"] == 1)
        #expect(after["regionspot_requests_total"] - before["regionspot_requests_total"] >= 8)
        #expect(after["regionspot_requests_in_flight"] == 0)
        for stage in ["localize", "semantic", "fuse"] {
            let series = "regionspot_stage_compute_seconds_count{stage=\"\(stage)\"}"
            #expect(after[series] - before[series] == 7, "\(series)")
            #expect(after.values["regionspot_stage_queue_depth{stage=\"\(stage)\"}"] == 0)
            // The daemon's own workers report too.
            #expect(after["regionspot_worker_compute_seconds_count{stage=\"\(stage)\"}"] >= 7)
        }
        #expect(after["regionspot_request_duration_seconds_count"] - before["regionspot_request_duration_seconds_count"] == 7)
        print("metrics under load: \(Int(during["regionspot_requests_in_flight"])) in flight mid-load; OK replies \(Int(before[ok])) → \(Int(after[ok]))")

        let log = fixture.daemon!.standardError
        for request in requests {
            let line = try #require(log.split(separator: "\n").first { $0.contains("request_id=\(request.recognize.requestID)") })
            for field in ["status=OK", "boxes=\(request.recognize.boxes.count)", "classes=\(request.recognize.vocabulary.count)",
                          "sam_encoder_ms=", "clip_encoder_ms=", "fusion_ms=", "info"] {
                #expect(line.contains(field), "\(line)")
            }
        }
    }

    /// /readyz is 503 while the daemon warms up, and while a stage has no live worker: 200 once
    /// the last missing worker joins, 503 again when it is killed and declared dead. A worker's own
    /// /readyz says whether its broker answers, and its /metrics counts what it computed.
    @Test func readyzFollowsWarmUpAndWorkers() throws {
        let fixture = try DaemonFixture()
        // Warm-up: the first answer after the HTTP server is up comes before the models are warm.
        let warming = try RunningProcess(["serve", "--model", fixture.bundle.path, "--pipeline", fixture.pipeline(), "--no-disk-cache",
                                          "--metrics-bind", "127.0.0.1:0"])
        let warmingAddress = try metricsAddress(warming)
        let bound = Date()
        let first = try HTTPClient.get("http://\(warmingAddress)/readyz")
        let answered = Date()
        _ = try warming.line(containing: "ready on")
        let warmed = try HTTPClient.get("http://\(warmingAddress)/readyz")
        print("readyz during warm-up: answered after \(Int(answered.timeIntervalSince(bound) * 1000)) ms, "
              + "ready line after \(Int(Date().timeIntervalSince(bound) * 1000)) ms")
        #expect(first.status == 503 && first.body.contains("warming up"), "\(first)")
        #expect(warmed.status == 200, "\(warmed)")

        let heartbeat = 200
        try fixture.serve(pipeline: fixture.pipeline(heartbeatMilliseconds: heartbeat, remote: ["localize", "semantic", "fuse"]),
                          extra: ["--metrics-bind", "127.0.0.1:0", "--log-level", "notice"])
        let address = try metricsAddress(fixture.daemon!)
        func readyz() throws -> HTTPClient.Response { try HTTPClient.get("http://\(address)/readyz") }
        let none = try readyz()
        #expect(none.status == 503 && none.body.contains("no live localize worker"), "\(none)")
        for stage in ["semantic", "fuse"] { try fixture.startWorker(stage, heartbeatMilliseconds: heartbeat) }
        try fixture.waitFor("semantic and fuse workers registered") {
            let answer = try readyz()
            return answer.body == "not ready: no live localize worker\n"
        }
        #expect(try readyz().status == 503)
        let localize = try fixture.startWorker("localize", heartbeatMilliseconds: heartbeat, extra: ["--metrics-bind", "127.0.0.1:0"])
        try fixture.waitFor("ready once a localize worker joins") { try readyz().status == 200 }
        let workerAddress = try metricsAddress(localize)
        try fixture.waitFor("the worker's broker answering") { try HTTPClient.get("http://\(workerAddress)/readyz").status == 200 }
        try fixture.expectOK(fixture.call(fixture.recognizeRequest()).recognize)
        let workerMetrics = try PrometheusSamples.scrape(workerAddress)
        #expect(workerMetrics["regionspot_worker_compute_seconds_count{stage=\"localize\"}"] == 1)
        #expect(try PrometheusSamples.scrape(address)["regionspot_stage_workers{stage=\"localize\"}"] == 1)

        localize.signal(SIGKILL)
        try fixture.waitFor("not ready once the localize worker is declared dead", timeout: 10) {
            let answer = try readyz()
            return answer.status == 503 && answer.body.contains("no live localize worker")
        }
        #expect(try PrometheusSamples.scrape(address)["regionspot_stage_workers{stage=\"localize\"}"] == 0)
        let log = fixture.daemon!.standardError
        #expect(log.contains("notice") && log.contains("worker joined") && log.contains("worker dead") && log.contains("stage=localize"), "\(log)")
        #expect(!log.contains("request_id="), "info lines at --log-level notice")
    }
}

/// The address in a process's "…: metrics on http://ADDRESS" line.
func metricsAddress(_ process: RunningProcess) throws -> String {
    let line = try process.line(containing: "metrics on http://")
    return String(line[line.range(of: "http://")!.upperBound...])
}
