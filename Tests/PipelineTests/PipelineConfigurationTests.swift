import Foundation
import Pipeline
import SAM
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let localYAML = try! String(contentsOf: root.appendingPathComponent("Pipelines/local.yaml"), encoding: .utf8)

/// local.yaml with the first `old` after `anchor` replaced (both must be there).
private func edited(_ old: String, _ new: String, after anchor: String = "") throws -> String {
    let start = try #require(anchor.isEmpty ? localYAML.startIndex : localYAML.range(of: anchor)?.upperBound, "no '\(anchor)'")
    let range = try #require(localYAML.range(of: old, range: start..<localYAML.endIndex), "no '\(old)' after '\(anchor)'")
    return localYAML.replacingCharacters(in: range, with: new)
}

/// The 1-based line of the first `text` after `anchor` in `yaml`.
private func line(of text: String, in yaml: String, after anchor: String = "") throws -> Int {
    let start = try #require(anchor.isEmpty ? yaml.startIndex : yaml.range(of: anchor)?.upperBound, "no '\(anchor)'")
    let range = try #require(yaml.range(of: text, range: start..<yaml.endIndex), "no '\(text)' after '\(anchor)'")
    return yaml[..<range.lowerBound].filter { $0 == "\n" }.count + 1
}

/// The message of the error `yaml` fails with, as the daemon prints it.
private func failure(_ yaml: String) -> String? {
    let error = #expect(throws: PipelineConfigurationError.self) { try PipelineConfiguration(yaml: yaml, file: "Pipelines/bad.yaml") }
    return error?.description
}

@Test func theShippedLocalTopologyLoads() throws {
    let configuration = try PipelineConfiguration(contentsOf: root.appendingPathComponent("Pipelines/local.yaml"))
    #expect(configuration.frontend == .init(bind: "tcp://127.0.0.1:5555", defaultDeadlineMilliseconds: 30000))
    #expect(configuration.heartbeat == .init(intervalMilliseconds: 1000, liveness: 3))
    #expect(configuration.limits == .init(maxMessageBytes: 32 << 20, maxImagePixels: 50_000_000, maxBoxes: 1000, maxClasses: 2000))
    #expect(configuration.stages.localize == .init(workers: 1, threads: 2, endpoint: "inproc://regionspot.localize", queueLimit: 64,
                                                   batching: nil))
    #expect(configuration.stages.named.allSatisfy { $0.stage.batching == nil })  // not applied yet: not shipped
    #expect(configuration.stages.named.map(\.name) == ["localize", "semantic", "fuse"])
    #expect(configuration.stages.named.allSatisfy { $0.stage.endpoint.hasPrefix("inproc://") && $0.stage.workers >= 1 })
    #expect(configuration.caches == .init(imageEmbeddingBytes: 1 << 30, classEmbeddingBytes: 256 << 20))
    #expect(configuration.metrics == nil)
    #expect(configuration.proposals == AutomaticMaskGenerator.Options())
}

/// The `proposals` section: the generator's parameters under segment-anything's names, the others
/// at their defaults; values the generator refuses are errors naming the key.
@Test func theProposalsSectionSetsTheGenerator() throws {
    let yaml = localYAML + "proposals:\n  points_per_side: 4\n  pred_iou_thresh: 0\n  stability_score_offset: 0.05\n  crop_n_layers: 1\n"
    var expected = AutomaticMaskGenerator.Options()
    (expected.pointsPerSide, expected.predIouThresh, expected.stabilityScoreOffset, expected.cropNLayers) = (4, 0, 0.05, 1)
    #expect(try PipelineConfiguration(yaml: yaml, file: "proposals.yaml").proposals == expected)

    let typo = localYAML + "proposals:\n  points_per_sides: 4\n"
    #expect(failure(typo)?.hasPrefix("Pipelines/bad.yaml:\(try line(of: "points_per_sides", in: typo)): proposals.points_per_sides: unknown key; expected one of: points_per_side, ") == true)
    let notANumber = localYAML + "proposals:\n  box_nms_thresh: high\n"
    #expect(failure(notANumber) == "Pipelines/bad.yaml:\(try line(of: "box_nms_thresh: high", in: notANumber)): proposals.box_nms_thresh: expected a number, got 'high'", "\(failure(notANumber) ?? "")")
    let noPoints = localYAML + "proposals:\n  points_per_side: 2\n  crop_n_layers: 2\n  crop_n_points_downscale_factor: 4\n"
    #expect(failure(noPoints)?.contains("proposals.crop_n_points_downscale_factor: leaves crop layer 2 with no points") == true, "\(failure(noPoints) ?? "")")
}

@Test func theShippedDistributedTopologyLoads() throws {
    let configuration = try PipelineConfiguration(contentsOf: root.appendingPathComponent("Pipelines/distributed.yaml"))
    #expect(configuration.stages.named.map(\.stage.endpoint) == ["tcp://127.0.0.1:5561", "tcp://127.0.0.1:5562", "tcp://127.0.0.1:5563"])
    #expect(configuration.stages.named.map(\.stage.workers) == [0, 0, 1])
    #expect(configuration.stages.localize.queueLimit == 128)
    #expect(configuration.metrics == nil)
}

@Test func sizesTakeUnits() throws {
    let yaml = try edited("class_embeddings: 256MiB", "class_embeddings: 3 GB")
    #expect(try PipelineConfiguration(yaml: yaml, file: "x").caches.classEmbeddingBytes == 3_000_000_000)
    let plain = try edited("image_embeddings: 1GiB", "image_embeddings: 0")
    #expect(try PipelineConfiguration(yaml: plain, file: "x").caches.imageEmbeddingBytes == 0)
}

@Test func badValuesNameTheFileLineAndKey() throws {
    let cases: [(yaml: String, at: String, expected: String)] = [
        (try edited("threads: 1", "threads: two", after: "  fuse:"), "threads: two",
         "stages.fuse.threads: expected a positive integer, got 'two'"),
        (try edited("workers: 1", "workers: -1", after: "  fuse:"), "workers: -1",
         "stages.fuse.workers: expected a non-negative integer, got '-1'"),
        (try edited("queue_limit: 64", "queue_limit: 6.5", after: "  semantic:"), "queue_limit: 6.5",
         "stages.semantic.queue_limit: expected a positive integer, got '6.5'"),
        (try edited("interval_ms: 1000", "interval_ms:"), "interval_ms:",
         "heartbeat.interval_ms: expected a positive integer, got nothing"),
        (try edited("image_embeddings: 1GiB", "image_embeddings: lots"), "image_embeddings: lots",
         "caches.image_embeddings: expected a size in bytes (a whole number, optionally followed by B, KB, MB, GB, KiB, MiB or GiB), got 'lots'"),
        (try edited("max_message_size: 32MiB", "max_message_size: 0"), "max_message_size: 0",
         "limits.max_message_size: expected a positive size, got '0'"),
        (try edited("endpoint: inproc://regionspot.semantic", "endpoint: localhost:5562"), "endpoint: localhost:5562",
         "stages.semantic.endpoint: expected an endpoint such as tcp://… or ipc://… or inproc://…, got 'localhost:5562'"),
        (try edited("bind: tcp://127.0.0.1:5555", "bind: [a, b]"), "bind: [a, b]",
         "frontend.bind: expected an endpoint such as tcp://… or ipc://… or inproc://…, got a mapping or a list"),
        (try edited("# metrics:\n#   bind: 127.0.0.1:9100", "metrics:\n  bind: localhost"), "bind: localhost",
         "metrics.bind: expected host:port, such as 127.0.0.1:9100, got 'localhost'"),
        (try edited("queue_limit: 64", "queue_limit: 64\n    batching:\n      max_boxes: 512\n      max_wait_ms: soon", after: "  fuse:"),
         "max_wait_ms: soon",
         "stages.fuse.batching.max_wait_ms: expected a non-negative integer, got 'soon'"),
    ]
    for (yaml, at, expected) in cases {
        #expect(failure(yaml) == "Pipelines/bad.yaml:\(try line(of: at, in: yaml)): \(expected)")
    }
}

@Test func unknownAndMissingKeysAreErrors() throws {
    let typo = try edited("    threads: 2", "    thread: 2", after: "  localize:")
    #expect(failure(typo) == "Pipelines/bad.yaml:\(try line(of: "thread: 2", in: typo)): stages.localize.thread: unknown key; expected one of: workers, threads, endpoint, queue_limit, batching")

    let extraStage = try edited("  fuse:", "  detect:\n    workers: 1\n  fuse:")
    #expect(failure(extraStage) == "Pipelines/bad.yaml:\(try line(of: "detect:", in: extraStage)): stages.detect: unknown key; expected one of: localize, semantic, fuse")

    let extraSection = localYAML + "\nlogging: verbose\n"
    #expect(failure(extraSection) == "Pipelines/bad.yaml:\(try line(of: "logging:", in: extraSection)): logging: unknown key; expected one of: frontend, heartbeat, limits, stages, caches, metrics, proposals")

    let missing = try edited("    queue_limit: 64\n", "", after: "  semantic:")
    #expect(failure(missing) == "Pipelines/bad.yaml:\(try line(of: "  semantic:", in: missing)): stages.semantic.queue_limit: missing (every key but batching, metrics and proposals is required)")

    let noCaches = String(localYAML[..<localYAML.range(of: "caches:")!.lowerBound])
    #expect(failure(noCaches) == "Pipelines/bad.yaml:\(try line(of: "frontend:", in: noCaches)): caches: missing (every key but batching, metrics and proposals is required)")
}

@Test func inconsistentTopologiesAreErrors() throws {
    let shared = try edited("endpoint: inproc://regionspot.fuse", "endpoint: inproc://regionspot.localize")
    #expect(failure(shared) == "Pipelines/bad.yaml:\(try line(of: "endpoint:", in: shared, after: "  fuse:")): stages.fuse.endpoint: 'inproc://regionspot.localize' is already bound by stages.localize.endpoint")

    let unreachable = try edited("workers: 1", "workers: 0", after: "  semantic:")
    #expect(failure(unreachable) == "Pipelines/bad.yaml:\(try line(of: "workers: 0", in: unreachable)): stages.semantic.workers: no worker can reach inproc endpoint 'inproc://regionspot.semantic' from another process; run at least 1 here or use tcp://")

    let batchedCLIP = try edited("    # (No batching: CLIP encodes one image at a time.)\n", "    batching:\n      max_boxes: 8\n      max_wait_ms: 1\n")
    #expect(failure(batchedCLIP) == "Pipelines/bad.yaml:\(try line(of: "    batching:\n      max_boxes: 8", in: batchedCLIP)): stages.semantic.batching: batching applies to localize and fuse only (CLIP encodes one image at a time)")
}

@Test func filesThatAreNotPipelineYAMLAreErrors() throws {
    #expect(failure("") == "Pipelines/bad.yaml:1: the file is empty")
    #expect(failure("hello") == "Pipelines/bad.yaml:1: expected a mapping of keys, got 'hello'")
    let stagesScalar = try edited("stages:\n", "stages: 5\n")
    let stagesLine = try line(of: "stages: 5", in: stagesScalar)
    let cut = String(stagesScalar[..<stagesScalar.range(of: "stages: 5")!.upperBound]) + "\n"
    #expect(failure(cut) == "Pipelines/bad.yaml:\(stagesLine): stages: expected a mapping of keys, got '5'")

    let badIndent = try edited("  interval_ms: 1000", "    interval_ms: 1000\n   liveness: 2")
    #expect(failure(badIndent)?.hasPrefix("Pipelines/bad.yaml:\(try line(of: "   liveness: 2", in: badIndent)): not valid YAML: ") == true)

    let duplicate = try edited("  liveness: 3", "  liveness: 3\n  liveness: 4")
    #expect(failure(duplicate)?.contains("key 'liveness' appears twice in one mapping") == true)

    let missingFile = URL(fileURLWithPath: "Pipelines/no-such-file.yaml")
    let error = #expect(throws: PipelineConfigurationError.self) { try PipelineConfiguration(contentsOf: missingFile) }
    #expect(error?.description.hasPrefix("Pipelines/no-such-file.yaml: cannot read the file (") == true)
}

@Test func theBuiltInTopologyIsLocalYAML() throws {
    #expect(PipelineConfiguration.localYAML == localYAML)
    #expect(try PipelineConfiguration.local() == PipelineConfiguration(contentsOf: root.appendingPathComponent("Pipelines/local.yaml")))
}

@Test func wildcardPortsMayRepeat() throws {
    let yaml = localYAML.replacingOccurrences(of: "tcp://127.0.0.1:5555", with: "tcp://127.0.0.1:*")
        .replacingOccurrences(of: "inproc://regionspot.fuse", with: "tcp://127.0.0.1:*")
    #expect(try PipelineConfiguration(yaml: yaml, file: "wildcards.yaml").stages.fuse.endpoint == "tcp://127.0.0.1:*")
}
