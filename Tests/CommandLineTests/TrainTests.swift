import Foundation
import TestSupport
import XCTest

/// `regionspot train` end to end on a generated shapes dataset with the tiny bundle's encoders.
final class TrainTests: XCTestCase {
    var scratch: [URL] = []
    override func tearDown() {
        for url in scratch { try? FileManager.default.removeItem(at: url) }
    }

    func temporary(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-\(name)-\(UUID().uuidString)")
        scratch.append(url)
        return url
    }

    func fixtures(train: Int = 24, val: Int = 12) throws -> (bundle: URL, data: ShapesDataset.Files, cache: URL) {
        let bundle = try TinyBundle.make()
        let data = try ShapesDataset.make(train: train, val: val)
        scratch += [bundle, data.directory]
        return (bundle, data, temporary("cache"))
    }

    func trainArguments(_ f: (bundle: URL, data: ShapesDataset.Files, cache: URL), out: URL, steps: Int, extra: [String] = []) -> [String] {
        ["train", "--model", f.bundle.path, "--data", f.data.trainSpec, "--cache-dir", f.cache.path, "--out", out.path,
         "--steps", String(steps), "--batch-size", "4", "--lr", "2e-3", "--warmup-iters", "5", "--threads", "2"] + extra
    }

    /// Training lowers the loss and lifts validation AP above the randomly initialised head's;
    /// the bundle it writes passes `models check` and runs in `predict`.
    func testTrainingLearnsAndWritesALoadableBundle() throws {
        let f = try fixtures()
        let out = temporary("trained")
        let result = try Executable.run(trainArguments(f, out: out, steps: 200, extra: ["--val", f.data.valSpec, "--validate-every", "100",
                                                                                      "--checkpoint-every", "100"]))
        XCTAssertEqual(result.status, 0, result.standardError)
        let losses = Self.values(after: "loss ", in: result.standardError)
        XCTAssertEqual(losses.count, 50, result.standardError)  // the progress line of every fourth step
        let early = losses.prefix(10).reduce(0, +) / 10, late = losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(late, early * 0.8, "loss \(early) → \(late)")
        let aps = Self.values(after: "AP ", in: result.standardError)
        XCTAssertEqual(aps.count, 3, result.standardError)  // at 0 (random weights), 100 and 200
        print("loss \(early) → \(late); validation AP \(aps)")
        XCTAssertGreaterThan(aps.dropFirst().max()!, aps[0] + 0.05, "validation AP \(aps)")

        let check = try Executable.run(["models", "check", out.path])
        XCTAssertEqual(check.status, 0, check.standardError)
        XCTAssertTrue(check.standardOutput.hasSuffix("OK\n"), check.standardOutput)
        let boxes = temporary("boxes.json")
        try Data(#"{"boxes": [[4, 4, 30, 24], [30, 20, 60, 44]]}"#.utf8).write(to: boxes)
        let image = f.data.images.appendingPathComponent("000001.png")
        let predict = try Executable.run(["predict", "--model", out.path, image.path, "--boxes", boxes.path,
                                          "--vocab", ShapesDataset.categories.map(\.name).joined(separator: ","), "--no-disk-cache"])
        XCTAssertEqual(predict.status, 0, predict.standardError)
        XCTAssertTrue(predict.standardOutput.contains("\"regions\""), predict.standardOutput)
    }

    /// 2N steps straight give the same bytes as N steps, `kill -9`, `--resume` and the rest.
    func testResumeAfterKillIsBitExact() throws {
        let f = try fixtures(train: 16, val: 0)
        let precompute = try Executable.run(["train", "precompute", "--model", f.bundle.path, "--data", f.data.trainSpec,
                                             "--cache-dir", f.cache.path, "--threads", "2"])
        XCTAssertEqual(precompute.status, 0, precompute.standardError)
        let (n, total) = (10, 300)
        let straight = temporary("straight"), resumed = temporary("resumed")
        let full = try Executable.run(trainArguments(f, out: straight, steps: total, extra: ["--checkpoint-every", String(n)]))
        XCTAssertEqual(full.status, 0, full.standardError)

        // The same run, killed once its first checkpoint is on disk.
        let run = try RunningProcess(trainArguments(f, out: resumed, steps: total, extra: ["--checkpoint-every", String(n)]))
        let checkpoint = resumed.appendingPathComponent("checkpoint.safetensors")
        XCTAssertTrue(waitUntil(timeout: 120) { FileManager.default.fileExists(atPath: checkpoint.path) || !run.process.isRunning })
        run.signal(SIGKILL)
        _ = run.exitStatus(within: 60)
        XCTAssertEqual(run.process.terminationReason, .uncaughtSignal, "the run finished before it could be killed")

        let resume = try Executable.run(trainArguments(f, out: resumed, steps: total, extra: ["--checkpoint-every", String(n), "--resume"]))
        XCTAssertEqual(resume.status, 0, resume.standardError)
        for name in ["fusion.safetensors", "checkpoint.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: straight.appendingPathComponent(name)), try Data(contentsOf: resumed.appendingPathComponent(name)), name)
        }
    }

    /// SIGINT checkpoints first; the resumed run ends where the uninterrupted one does.
    func testInterruptCheckpointsThenResumes() throws {
        let f = try fixtures(train: 16, val: 0)
        let straight = temporary("straight"), resumed = temporary("resumed")
        let total = 120
        let full = try Executable.run(trainArguments(f, out: straight, steps: total, extra: ["--checkpoint-every", "1000"]))
        XCTAssertEqual(full.status, 0, full.standardError)
        let run = try RunningProcess(trainArguments(f, out: resumed, steps: total, extra: ["--checkpoint-every", "1000"]))
        // Interrupt once training has started (its progress lines appear).
        XCTAssertTrue(waitUntil(timeout: 120) { run.standardError.contains("regions/s") || !run.process.isRunning })
        run.signal(SIGINT)
        XCTAssertEqual(run.exitStatus(within: 60), 130, run.standardError)
        XCTAssertTrue(run.standardError.contains("interrupted at step"), run.standardError)
        let resume = try Executable.run(trainArguments(f, out: resumed, steps: total, extra: ["--checkpoint-every", "1000", "--resume"]))
        XCTAssertEqual(resume.status, 0, resume.standardError)
        XCTAssertEqual(try Data(contentsOf: straight.appendingPathComponent("fusion.safetensors")),
                       try Data(contentsOf: resumed.appendingPathComponent("fusion.safetensors")))
    }

    /// `--val-split` validates on held-out training images, whose ground truth it writes out.
    func testValidationSplitHoldsOutImages() throws {
        let f = try fixtures(train: 16, val: 0)
        let out = temporary("split")
        let result = try Executable.run(trainArguments(f, out: out, steps: 4, extra: ["--val-split", "0.25", "--validate-every", "4"]))
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertEqual(Self.values(after: "AP ", in: result.standardError).count, 2, result.standardError)
        let split = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("validation.json"))) as! [String: Any]
        XCTAssertEqual((split["images"] as! [Any]).count, 4)
    }

    /// A killed or partial precompute continues with only the missing images.
    func testPrecomputeResumes() throws {
        let f = try fixtures(train: 12, val: 0)
        let arguments = ["train", "precompute", "--model", f.bundle.path, "--data", f.data.trainSpec, "--cache-dir", f.cache.path, "--threads", "2"]
        let first = try Executable.run(arguments)
        XCTAssertEqual(first.status, 0, first.standardError)
        XCTAssertTrue(first.standardError.contains("12 images (") && first.standardError.contains("to compute"), first.standardError)
        // Remove three images' features, as if the run had been killed before them.
        let files = try FileManager.default.subpathsOfDirectory(atPath: f.cache.path).filter { $0.hasSuffix("/0.safetensors") || $0.hasSuffix("/5.safetensors") || $0.hasSuffix("/11.safetensors") }
        XCTAssertEqual(files.count, 3)
        for file in files { try FileManager.default.removeItem(atPath: f.cache.appendingPathComponent(file).path) }
        let second = try Executable.run(arguments)
        XCTAssertEqual(second.status, 0, second.standardError)
        XCTAssertTrue(second.standardError.contains(", 3 images ("), second.standardError)
        let third = try Executable.run(arguments)
        XCTAssertTrue(third.standardError.contains(", 0 images ("), third.standardError)
    }

    /// Numbers printed after `label` ("loss 0.1234 ", "AP 0.5 ") in each line.
    static func values(after label: String, in text: String) -> [Double] {
        text.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: " " + label) else { return nil }
            return Double(line[range.upperBound...].prefix { $0 != " " })
        }
    }
}
