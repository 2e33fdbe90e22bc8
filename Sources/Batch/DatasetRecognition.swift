import Foundation
import Imaging
import RegionSpot
import SAM
import Tensors

/// Recognizes every image of a dataset into one LVIS/COCO results file, as RegionSpot's
/// evaluation does (Surrey-UP-Lab/RegionSpot:regionspot/detector.py `inference_gt_box` /
/// `inference_pred_box`: the image's 900 best (box, class) pairs; the evaluator keeps 300).
///
/// Two workers keep both encoders busy: each image is two tasks, SAM (`encodeImage` and
/// `regionTokens`) and CLIP (`tokenMap`), taken in order by whichever worker is free, and the
/// worker that finishes an image's second task runs `classify` and writes its records. So one
/// image's SAM runs while another's CLIP and fusion do, and no worker waits on a slower encoder.
/// The thread budget is split between the workers. With `samProposals`, the SAM task also runs
/// SAM's automatic mask generator on the image's embedding, and its boxes (scored by predicted
/// IoU) are the image's regions, as `predict IMAGE --proposals sam` gives them.
///
/// Each image's records are written atomically to `<out>.partial/<image id>.json` as it
/// finishes; the results file is their concatenation in the dataset's order, written atomically
/// at the end, after which the partial directory is removed (kept when an image failed, so that
/// `resume` retries only those). A failed image is reported and skipped.
public final class DatasetRecognition: @unchecked Sendable {
    public struct Options: Sendable {
        public var images: URL
        public var output: URL
        public var vocabulary: [String]
        public var masks = false
        /// SAM's automatic mask generator proposes each image's boxes instead of the prompts'.
        public var samProposals: AutomaticMaskGenerator.Options?
        /// Compute threads, split between the two workers.
        public var threads = Parallel.processorCount

        public init(images: URL, output: URL, vocabulary: [String]) {
            self.images = images
            self.output = output
            self.vocabulary = vocabulary
        }
    }

    public struct Progress: Sendable {
        /// Images written or failed, those of an earlier run included.
        public var done: Int
        /// Images already written by an earlier run (`resume`).
        public var skipped: Int
        public var failed: Int
        public var total: Int
    }

    public struct Summary: Sendable {
        public var recognized: Int
        public var skipped: Int
        /// "image ID (file): reason", in the dataset's order.
        public var failures: [String]
    }

    private let recognizer: Recognizer
    private let prompts: DatasetPrompts
    private let options: Options
    private let workers: [Recognizer]
    private let categoryIDs: [Int]
    public var partialDirectory: URL { options.output.appendingPathExtension("partial") }

    public init(recognizer: Recognizer, prompts: DatasetPrompts, options: Options) throws {
        guard options.vocabulary.count == prompts.dataset.categories.count else {
            throw DatasetError.badInput(file: prompts.dataset.file, field: "categories",
                                        reason: "the vocabulary has \(options.vocabulary.count) names for \(prompts.dataset.categories.count) categories")
        }
        if let generator = options.samProposals {
            _ = try AutomaticMaskGenerator.pointGrids(for: generator)  // bad options fail before any image
        }
        self.recognizer = recognizer
        self.prompts = prompts
        self.options = options
        categoryIDs = prompts.categoryIDs
        let count = min(2, max(1, options.threads))
        workers = (0..<count).map { _ in recognizer.sharing(threads: max(1, options.threads / count)) }
    }

    /// Runs over every image not yet written (all of them unless `resume`), reporting progress
    /// after each image, and writes the results file. With `resume`, a results file without a
    /// partial directory is a finished run, and nothing is done.
    public func run(resume: Bool, progress: @escaping @Sendable (Progress) -> Void = { _ in }) throws -> Summary {
        let fileManager = FileManager.default
        if resume && !fileManager.fileExists(atPath: partialDirectory.path) && fileManager.fileExists(atPath: options.output.path) {
            return Summary(recognized: 0, skipped: prompts.imageCount, failures: [])
        }
        if !resume { try? fileManager.removeItem(at: partialDirectory) }
        try fileManager.createDirectory(at: partialDirectory, withIntermediateDirectories: true)
        let pending = (0..<prompts.imageCount).filter { !fileManager.fileExists(atPath: partialURL(imageAt: $0).path) }
        let classes = try recognizer.classEmbeddings(for: options.vocabulary)
        let state = RunState(pending: pending, skipped: prompts.imageCount - pending.count, total: prompts.imageCount)
        progress(state.progress)
        let group = DispatchGroup()
        for worker in workers {
            group.enter()
            let thread = Thread { [self] in
                while let task = state.next() {
                    if run(task, on: worker, classes: classes, state: state) { progress(state.progress) }
                }
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()

        let failures = state.failures.sorted { $0.key < $1.key }.map(\.value)
        try writeResults()
        if failures.isEmpty { try? fileManager.removeItem(at: partialDirectory) }
        return Summary(recognized: pending.count - failures.count, skipped: state.skipped, failures: failures)
    }

    private func partialURL(imageAt index: Int) -> URL {
        partialDirectory.appendingPathComponent("\(prompts.dataset.imageIDs[index]).json")
    }

    // MARK: One task

    /// Runs one encoder's task; returns true when it finished its image (written or failed).
    private func run(_ task: RunState.Task, on worker: Recognizer, classes: Tensor, state: RunState) -> Bool {
        let image = task.image
        do {
            guard let picture = try image.picture(loading: { try load(imageAt: image.index) }) else { return false }
            switch task.kind {
            case .sam:
                if let generator = options.samProposals {
                    let embedding = worker.encodeImage(picture)
                    let proposed = try worker.proposals(picture, embedding: embedding, options: generator)
                    image.proposed = proposed
                    if !proposed.boxes.isEmpty {
                        image.regions = try worker.regionTokens(embedding, boxes: proposed.boxes, masks: options.masks)
                    }
                } else {
                    let boxes = prompts.prompts(forImageAt: image.index).boxes
                    if !boxes.isEmpty {
                        image.regions = try worker.regionTokens(worker.encodeImage(picture), boxes: boxes, masks: options.masks)
                    }
                }
            case .clip:
                image.tokenMap = try worker.tokenMap(picture)
            }
            guard image.finishTask() else { return false }
            try write(image, on: worker, classes: classes)
            state.complete()
            return true
        } catch {
            guard image.fail() else { return false }
            let name = (try? prompts.fileName(ofImageAt: image.index)) ?? "no file name"
            state.fail(imageAt: image.index, "image \(prompts.dataset.imageIDs[image.index]) (\(name)): \(error)")
            return true
        }
    }

    private func load(imageAt index: Int) throws -> RGBImage {
        try RGBImage(contentsOf: options.images.appendingPathComponent(try prompts.fileName(ofImageAt: index)))
    }

    /// Fusion, scoring and the image's records, once both encoders are done.
    private func write(_ image: RunState.ImageWork, on worker: Recognizer, classes: Tensor) throws {
        let (boxes, scores) = image.proposed.map { ($0.boxes, Optional($0.scores)) } ?? prompts.prompts(forImageAt: image.index)
        var records: [LVISResult] = []
        if let regions = image.regions, let tokenMap = image.tokenMap {
            let classification = try worker.classify(maskTokens: regions.maskTokens, tokenMap: tokenMap, classEmbeddings: classes, topK: 1)
            let detections = Scoring.detections(probabilities: classification.probabilities, boxScores: scores)
            records = try LVISResults.records(imageID: prompts.dataset.imageIDs[image.index], detections: detections, boxes: boxes,
                                              categoryIDs: categoryIDs, masks: options.masks ? regions.masks.map(CompressedRLE.init) : nil)
        }
        image.release()
        try AtomicFile.write(LVISResults.encode(records), to: partialURL(imageAt: image.index))
    }

    /// The images' records in the dataset's order. Each partial file is a compact JSON array, so
    /// the results file is their elements joined (the bytes `LVISResults.encode` gives for all of
    /// them at once), streamed without holding every record in memory.
    private func writeResults() throws {
        try AtomicFile.write(to: options.output) { handle in
            var first = true
            try handle.write(contentsOf: Data("[".utf8))
            for index in 0..<prompts.imageCount {
                guard let data = try? Data(contentsOf: partialURL(imageAt: index)), data.count > 2 else { continue }
                if !first { try handle.write(contentsOf: Data(",".utf8)) }
                try handle.write(contentsOf: data.dropFirst().dropLast())
                first = false
            }
            try handle.write(contentsOf: Data("]".utf8))
        }
    }
}

/// The queue of tasks, and the counts the workers share, under one lock.
private final class RunState: @unchecked Sendable {
    enum Kind { case sam, clip }

    struct Task {
        let image: ImageWork
        let kind: Kind
    }

    /// One image in flight: decoded once, by whichever of its tasks starts first; the encoders'
    /// outputs until fusion.
    final class ImageWork: @unchecked Sendable {
        let index: Int
        private let lock = NSLock()
        private var decoded: RGBImage?
        private var decodeStarted = false
        private let decodeFinished = DispatchSemaphore(value: 0)
        private var remaining = 2
        private var failed = false
        private var reported = false
        // Each written by one task; read by the task that finishes last, after `finishTask`'s lock.
        var regions: RegionTokens?
        var tokenMap: Tensor?
        /// SAM's proposals, when they are the regions.
        var proposed: (boxes: [Box], scores: [Float])?

        init(index: Int) { self.index = index }

        /// The decoded image (decoded here if this is the first task to ask), or nil when the image failed.
        func picture(loading: () throws -> RGBImage) throws -> RGBImage? {
            let first: Bool = lock.withLock {
                defer { decodeStarted = true }
                return !decodeStarted && !failed
            }
            guard first else {
                decodeFinished.wait()
                decodeFinished.signal()
                return lock.withLock { failed ? nil : decoded }
            }
            defer { decodeFinished.signal() }
            do {
                let image = try loading()
                lock.withLock { decoded = image }
                return image
            } catch {
                lock.withLock { failed = true }
                throw error
            }
        }

        /// True for the task that finished last on an image that did not fail: it runs fusion.
        func finishTask() -> Bool {
            lock.withLock {
                remaining -= 1
                return remaining == 0 && !failed
            }
        }

        /// True the first time, so that a failure is reported once.
        func fail() -> Bool {
            lock.withLock {
                failed = true
                defer { reported = true }
                return !reported
            }
        }

        func release() {
            lock.withLock {
                decoded = nil
                regions = nil
                tokenMap = nil
                proposed = nil
            }
        }
    }

    private let lock = NSLock()
    private let queue: [Task]
    private var nextTask = 0
    private var completed = 0
    let skipped: Int
    let total: Int
    private(set) var failures: [Int: String] = [:]

    /// Each image's SAM task, then its CLIP task, image after image.
    init(pending: [Int], skipped: Int, total: Int) {
        queue = pending.flatMap { index -> [Task] in
            let image = ImageWork(index: index)
            return [Task(image: image, kind: .sam), Task(image: image, kind: .clip)]
        }
        self.skipped = skipped
        self.total = total
    }

    func next() -> Task? {
        lock.withLock {
            guard nextTask < queue.count else { return nil }
            defer { nextTask += 1 }
            return queue[nextTask]
        }
    }

    func complete() { lock.withLock { completed += 1 } }

    func fail(imageAt index: Int, _ message: String) {
        lock.withLock {
            failures[index] = message
            completed += 1
        }
    }

    var progress: DatasetRecognition.Progress {
        lock.withLock { .init(done: skipped + completed, skipped: skipped, failed: failures.count, total: total) }
    }
}
