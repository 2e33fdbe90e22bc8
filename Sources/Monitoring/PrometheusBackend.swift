import Metrics
import Prometheus

/// swift-metrics' backend for a process that serves `/metrics`.
public enum PrometheusBackend {
    /// Makes Prometheus the process's swift-metrics backend (once per process: swift-metrics
    /// allows one bootstrap) and returns the registry that `/metrics` prints.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Stage times run from a fraction of a millisecond (the fusion module) to seconds (a ViT-H encoder).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
