import Foundation
import Imaging
import Testing
import TestSupport
import Tensors

/// `regionspot watch` on real directories with real inotify and the tiny bundle.
@Suite(.serialized) struct WatchTests {
    static let vocabulary = ["cat", "traffic light", "wall-other-merged", "Band_Aid", "coffee mug"]

    /// A scratch directory with INBOX and OUT, the tiny bundle, four image variants (PNG bytes)
    /// and the sidecar every image gets; removed by `cleanUp`.
    struct Scene {
        let root: URL, inbox: URL, out: URL, bundle: URL
        let variants: [Data]
        let sidecar: Data

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
            inbox = root.appendingPathComponent("inbox")
            out = root.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
            bundle = try TinyBundle.make()
            let base = try RGBImage(contentsOf: TinyBundle.image)
            variants = try (0..<4).map { v in
                var pixels = base.pixels
                for i in pixels.indices where (i / 3) % (v + 2) == 0 { pixels[i] = UInt8((Int(pixels[i]) + 97 * v) % 256) }
                return try RGBImage(width: base.width, height: base.height, pixels: pixels).encoded(as: .png)
            }
            let request = try JSONSerialization.jsonObject(with: Data(contentsOf: TinyBundle.request)) as! [String: Any]
            sidecar = try JSONSerialization.data(withJSONObject: ["boxes": request["boxes"]!, "scores": request["scores"]!])
        }

        func cleanUp() {
            try? FileManager.default.removeItem(at: root)
            try? FileManager.default.removeItem(at: bundle)
        }

        func watch(_ extra: [String] = []) throws -> RunningProcess {
            try RunningProcess(["watch", inbox.path, "--out", out.path, "--model", bundle.path, "--vocab",
                                   WatchTests.vocabulary.joined(separator: ","), "--threads", "1", "--no-disk-cache"] + extra)
        }

        /// `regions` of predict's JSON for each variant, as the reference outputs.
        func expectedRegions() throws -> [NSArray] {
            try variants.enumerated().map { index, data in
                let image = root.appendingPathComponent("variant\(index).png"), boxes = root.appendingPathComponent("boxes.json")
                try data.write(to: image)
                try sidecar.write(to: boxes)
                let result = try Executable.run(["predict", "--model", bundle.path, image.path, "--boxes", boxes.path,
                                                 "--vocab", WatchTests.vocabulary.joined(separator: ","), "--threads", "1", "--no-disk-cache"])
                #expect(result.status == 0, "\(result.standardError)")
                return try Self.regions(Data(result.standardOutput.utf8))
            }
        }

        static func regions(_ json: Data) throws -> NSArray {
            (try JSONSerialization.jsonObject(with: json) as! [String: Any])["regions"] as! NSArray
        }

        func outputs() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []).filter { $0.hasSuffix(".regions.json") }
        }
    }

    @Test func twoHundredImagesDroppedThreeWaysSurviveKill9() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let expected = try scene.expectedRegions()
        let count = 200

        // A reader that parses every output as soon as it appears: none may ever be partial.
        let partial = AtomicCounter(), stopReading = AtomicCounter()
        let reader = Thread {
            while stopReading.value == 0 {
                for name in scene.outputs() {
                    guard let data = try? Data(contentsOf: scene.out.appendingPathComponent(name)) else { continue }
                    if (try? Scene.regions(data)) == nil { partial.increment() }
                }
            }
        }
        reader.start()
        defer { stopReading.increment() }

        var first: RunningProcess? = try scene.watch()
        // Drop the images: written in place, renamed in from a hidden temporary, or written slowly
        // in chunks (every 20th, over about a second); the sidecar before or after the image.
        let dropper = Thread {
            for i in 0..<count {
                let name = String(format: "image%03d", i), data = scene.variants[i % 4]
                let image = scene.inbox.appendingPathComponent("\(name).png")
                let sidecar = scene.inbox.appendingPathComponent("\(name).boxes.json")
                if i % 2 == 0 { try? scene.sidecar.write(to: sidecar) }
                if i % 20 == 19 {
                    _ = FileManager.default.createFile(atPath: image.path, contents: nil)
                    let handle = try! FileHandle(forWritingTo: image)
                    for chunk in stride(from: 0, to: data.count, by: data.count / 4 + 1) {
                        handle.write(data[chunk..<min(data.count, chunk + data.count / 4 + 1)])
                        usleep(250_000)
                    }
                    try? handle.close()
                } else if i % 3 == 1 {
                    let temporary = scene.inbox.appendingPathComponent(".\(name).png.part")
                    try? data.write(to: temporary)
                    rename(temporary.path, image.path)
                } else {
                    try? data.write(to: image)
                }
                if i % 2 == 1 { try? scene.sidecar.write(to: sidecar) }
            }
        }
        dropper.start()

        #expect(try waitUntil(timeout: 120) { scene.outputs().count >= 60 })
        first?.signal(SIGKILL)
        _ = first?.exitStatus(within: 10)
        let firstLog = first?.standardError ?? ""
        first = nil
        let second = try scene.watch()
        let images = { (try? FileManager.default.contentsOfDirectory(atPath: scene.inbox.path).filter { $0.hasSuffix(".png") }) ?? [] }
        #expect(try waitUntil(timeout: 180) { scene.outputs().count == count && images().isEmpty })
        second.signal(SIGTERM)
        #expect(second.exitStatus(within: 30) == 0, "\(second.standardError)")
        stopReading.increment()

        #expect(partial.value == 0)
        #expect(scene.outputs().count == count)
        for i in 0..<count {
            let output = scene.out.appendingPathComponent(String(format: "image%03d.regions.json", i))
            let regions = try Scene.regions(Data(contentsOf: output))
            #expect(regions == expected[i % 4], "image \(i)")
        }
        let done = try FileManager.default.contentsOfDirectory(atPath: scene.inbox.appendingPathComponent("done").path)
        #expect(done.filter { $0.hasSuffix(".png") }.count == count && done.filter { $0.hasSuffix(".boxes.json") }.count == count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scene.inbox.appendingPathComponent("failed").path).isEmpty)
        // Nothing was done twice: each image's "done" line appears once over both runs.
        let doneLines = (firstLog + second.standardError).split(separator: "\n").filter { $0.contains(" done in ") }
        #expect(Set(doneLines.map { $0.split(separator: " ")[1] }).count == doneLines.count)
    }

    @Test func badInputsEndInFailedWithAReason() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let inbox = scene.inbox
        try scene.variants[0].write(to: inbox.appendingPathComponent("good.png"))
        try scene.sidecar.write(to: inbox.appendingPathComponent("good.boxes.json"))
        try Data((0..<500).map { UInt8($0 % 251) }).write(to: inbox.appendingPathComponent("corrupt.png"))
        try scene.sidecar.write(to: inbox.appendingPathComponent("corrupt.boxes.json"))
        try scene.variants[1].prefix(scene.variants[1].count / 2).write(to: inbox.appendingPathComponent("truncated.png"))
        try scene.sidecar.write(to: inbox.appendingPathComponent("truncated.boxes.json"))
        try scene.variants[2].write(to: inbox.appendingPathComponent("malformed.png"))
        try Data(#"{"boxes": [[1, 2, 3]]}"#.utf8).write(to: inbox.appendingPathComponent("malformed.boxes.json"))
        try scene.variants[3].write(to: inbox.appendingPathComponent("lonely.png"))

        let watcher = try scene.watch(["--once", "--max-attempts", "2"])
        #expect(watcher.exitStatus(within: 120) == 1, "\(watcher.standardError)")
        #expect(scene.outputs() == ["good.regions.json"])
        let failed = scene.inbox.appendingPathComponent("failed")
        for (name, words) in [("corrupt.png", "corrupt.png"), ("truncated.png", "truncated.png"),
                              ("malformed.png", "boxes[0]"), ("lonely.png", "no sidecar")] {
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: failed.appendingPathComponent("\(name).error.json"))) as! [String: Any]
            let text = "\(report["file"] ?? "") \(report["field"] ?? "") \(report["reason"] ?? "")"
            #expect(text.contains(words), "\(name): \(text)")
            #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent(name).path))
        }
        #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent("malformed.boxes.json").path))
    }

    /// With a queue of 16 events and the watcher stopped (SIGSTOP) while 300 images arrive,
    /// inotify overflows; the rescan finds them all.
    @Test(.enabled(if: access("/proc/sys/fs/inotify/max_queued_events", W_OK) == 0, "needs root to lower max_queued_events"))
    func anInotifyOverflowLosesNothing() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let setting = URL(fileURLWithPath: "/proc/sys/fs/inotify/max_queued_events")
        let saved = try String(contentsOf: setting, encoding: .utf8)
        try "16\n".write(to: setting, atomically: false, encoding: .utf8)
        defer { try? saved.write(to: setting, atomically: false, encoding: .utf8) }
        let watcher = try scene.watch()
        // The watch is set up once "processed 0" or a result shows; the limit applies at inotify_init.
        #expect(try waitUntil(timeout: 60) { watcher.standardError.contains("processed") })
        try "\(saved)".write(to: setting, atomically: false, encoding: .utf8)
        watcher.signal(SIGSTOP)
        for i in 0..<300 {
            try scene.sidecar.write(to: scene.inbox.appendingPathComponent("burst\(i).boxes.json"))
            try scene.variants[i % 4].write(to: scene.inbox.appendingPathComponent("burst\(i).png"))
        }
        watcher.signal(SIGCONT)
        #expect(try waitUntil(timeout: 180) { scene.outputs().count == 300 })
        watcher.signal(SIGTERM)
        #expect(watcher.exitStatus(within: 30) == 0)
        #expect(watcher.standardError.contains("overflowed"))
    }

    /// A manifest of 20 images: its results file evaluates as the same predictions made one by one.
    @Test func aManifestGivesTheResultsOfOneByOnePredictions() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let batch = scene.inbox.appendingPathComponent("batch")
        try FileManager.default.createDirectory(at: batch, withIntermediateDirectories: true)
        let request = try JSONSerialization.jsonObject(with: Data(contentsOf: TinyBundle.request)) as! [String: Any]
        let boxes = (request["boxes"] as! [[Double]])
        var images: [[String: Any]] = [], annotations: [[String: Any]] = [], oneByOne: [[String: Any]] = []
        let categories = Self.vocabulary.enumerated().map { ["id": $0.offset + 1, "name": $0.element, "frequency": ["r", "c", "f"][$0.offset % 3]] as [String: Any] }
        for i in 0..<20 {
            let file = batch.appendingPathComponent("img\(i).png")
            try scene.variants[i % 4].write(to: file)
            images.append(["id": i + 1, "file_name": "batch/img\(i).png", "height": 60, "width": 80,
                           "neg_category_ids": [], "not_exhaustive_category_ids": []])
            for (b, box) in boxes.enumerated() {
                annotations.append(["id": annotations.count + 1, "image_id": i + 1, "category_id": (i + b) % 5 + 1,
                                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                                    "area": (box[2] - box[0]) * (box[3] - box[1])])
            }
            // The same prediction made alone: every (box, class) pair, scored by its probability.
            let sidecar = scene.root.appendingPathComponent("alone.json")
            try JSONSerialization.data(withJSONObject: ["boxes": boxes]).write(to: sidecar)
            let alone = try Executable.run(["predict", "--model", scene.bundle.path, file.path, "--boxes", sidecar.path,
                                            "--vocab", Self.vocabulary.joined(separator: ","), "--top-k", "5", "--threads", "1", "--no-disk-cache"])
            for case let region as [String: Any] in try Scene.regions(Data(alone.standardOutput.utf8)) {
                let box = region["box"] as! [Double]
                for case let label as [String: Any] in region["labels"] as! [Any] {
                    oneByOne.append(["image_id": i + 1, "category_id": (label["index"] as! Int) + 1,
                                     "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "score": label["score"]!])
                }
            }
        }
        let manifest: [String: Any] = ["images": images, "annotations": annotations, "categories": categories]
        let groundTruth = scene.root.appendingPathComponent("gt.json")
        try JSONSerialization.data(withJSONObject: manifest).write(to: groundTruth)
        let alone = scene.root.appendingPathComponent("alone-results.json")
        try JSONSerialization.data(withJSONObject: oneByOne).write(to: alone)
        try FileManager.default.copyItem(at: groundTruth, to: scene.inbox.appendingPathComponent("batch.json"))

        let watcher = try scene.watch(["--once"])
        #expect(watcher.exitStatus(within: 120) == 0, "\(watcher.standardError)")
        let results = scene.out.appendingPathComponent("batch.results.json")
        let ours = try Executable.run(["eval", "--gt", groundTruth.path, "--dt", results.path])
        let reference = try Executable.run(["eval", "--gt", groundTruth.path, "--dt", alone.path])
        #expect(ours.status == 0 && reference.status == 0, "\(ours.standardError) \(reference.standardError)")
        #expect(ours.standardOutput == reference.standardOutput)
        #expect(ours.standardOutput.contains("AP"))
    }
}

/// `watch --connect` against a running `serve`: the same outputs as in-process.
@Suite struct WatchConnectTests {
    @Test func aDaemonGivesTheSameOutputsAsTheEngine() throws {
        let scene = try WatchTests.Scene()
        defer { scene.cleanUp() }
        let daemon = try DaemonFixture()
        try daemon.serve(pipeline: daemon.pipeline())
        let expected = try scene.expectedRegions()
        for i in 0..<8 {
            try scene.sidecar.write(to: scene.inbox.appendingPathComponent("remote\(i).boxes.json"))
            try scene.variants[i % 4].write(to: scene.inbox.appendingPathComponent("remote\(i).png"))
        }
        let watcher = try RunningProcess(["watch", scene.inbox.path, "--out", scene.out.path, "--connect", daemon.frontend,
                                          "--vocab", WatchTests.vocabulary.joined(separator: ","), "--once"])
        #expect(watcher.exitStatus(within: 120) == 0, "\(watcher.standardError)")
        for i in 0..<8 {
            let regions = try WatchTests.Scene.regions(Data(contentsOf: scene.out.appendingPathComponent("remote\(i).regions.json")))
            #expect(regions == expected[i % 4], "image \(i)")
        }
    }
}
