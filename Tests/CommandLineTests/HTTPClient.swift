import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real HTTP client (URLSession) for the daemon's /metrics, /healthz and /readyz.
enum HTTPClient {
    struct Response {
        let status: Int
        let body: String
    }

    /// GET `url`, waiting up to `timeout` seconds for the answer.
    static func get(_ url: String, timeout: Double = 10) throws -> Response {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = timeout
        request.cachePolicy = .reloadIgnoringLocalCacheData
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.set(data.map { String(decoding: $0, as: UTF8.self) }, (response as? HTTPURLResponse)?.statusCode, error)
            done.signal()
        }.resume()
        done.wait()
        return try outcome.response(url)
    }

    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var body: String?, status: Int?, error: (any Error)?

        func set(_ body: String?, _ status: Int?, _ error: (any Error)?) {
            lock.withLock { (self.body, self.status, self.error) = (body, status, error) }
        }

        func response(_ url: String) throws -> Response {
            try lock.withLock {
                guard let status else { throw ProcessFailure("GET \(url): \(error.map { "\($0)" } ?? "no response")") }
                return Response(status: status, body: body ?? "")
            }
        }
    }
}

/// Samples of a Prometheus text exposition, by series ("name{label=\"value\"}" or "name").
struct PrometheusSamples {
    let values: [String: Double]

    init(_ text: String) {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        self.values = values
    }

    subscript(series: String) -> Double { values[series] ?? 0 }

    /// GET http://ADDRESS/metrics.
    static func scrape(_ address: String) throws -> PrometheusSamples {
        let response = try HTTPClient.get("http://\(address)/metrics")
        guard response.status == 200 else { throw ProcessFailure("/metrics answered \(response.status): \(response.body)") }
        return PrometheusSamples(response.body)
    }
}
