import ArgumentParser
import Foundation
import Logging
import Metrics
import Monitoring
import Prometheus
import Tensors

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// What `serve` and `worker` share for their operators: logs (swift-log, to stderr) and the HTTP
/// endpoints for metrics and health.
struct OperationsOptions: ParsableArguments {
    @Option(help: "Least severe log lines written to stderr: info has one line per request, notice the workers joining, leaving and dying.")
    var logLevel: Logger.Level = .info
    @Option(help: ArgumentHelp("Serve /metrics (Prometheus text), /healthz and /readyz over HTTP on HOST:PORT (port 0 picks a free one).",
                               discussion: "serve: in place of the pipeline file's metrics.bind. Unauthenticated: keep it on loopback or a monitoring network."))
    var metricsBind: String?

    func validate() throws {
        if let metricsBind { _ = try MonitoringServer.parse(metricsBind) }
    }

    /// Sends every swift-log logger of the process to stderr at `--log-level`; returns the daemon's.
    func bootstrapLogging(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }

    /// With an HTTP address (`--metrics-bind`, else `configured`): Prometheus becomes the metrics
    /// backend, with the BLAS kernel in use as `regionspot_blas_kernel{kernel}` = 1. Call before any
    /// metric is made (the broker's and workers' are made when they start): those made earlier go nowhere.
    func bootstrapMetrics(configured: String? = nil) -> (registry: PrometheusCollectorRegistry, bind: String)? {
        guard let bind = metricsBind ?? configured else { return nil }
        let registry = PrometheusBackend.bootstrap()
        Gauge(label: "regionspot_blas_kernel", dimensions: [("kernel", BLASRuntime.coreName)]).record(1)
        return (registry, bind)
    }

    /// Starts the HTTP server for what `bootstrapMetrics` returned, and prints "COMMAND: metrics on http://ADDRESS".
    func startMonitoring(_ metrics: (registry: PrometheusCollectorRegistry, bind: String)?, command: String, logger: Logger,
                         readiness: @escaping MonitoringServer.Readiness) throws -> MonitoringServer? {
        guard let metrics else { return nil }
        let server = try MonitoringServer(bind: metrics.bind, registry: metrics.registry, readiness: readiness)
        if !Loopback.contains(host: String(server.address[..<server.address.lastIndex(of: ":")!])) {
            logger.warning("metrics and health are served unauthenticated beyond loopback", metadata: ["address": "\(server.address)"])
        }
        announce("\(command): metrics on http://\(server.address)")
        return server
    }
}

/// Whether an address stays on this machine, for the warnings about exposed endpoints.
enum Loopback {
    static func contains(host: String) -> Bool {
        let host = host.trimmingCharacters(in: ["[", "]"])
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// inproc:// and ipc:// stay local; tcp:// when its host is loopback.
    static func contains(endpoint: String) -> Bool {
        guard endpoint.hasPrefix("tcp://") else { return endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") }
        let address = endpoint.dropFirst("tcp://".count)
        guard let colon = address.lastIndex(of: ":") else { return false }
        // A connecting endpoint may name its source first ("tcp://SOURCE;HOST:PORT").
        return contains(host: String(address[..<colon].split(separator: ";").last ?? ""))
    }
}
