import Foundation
import RegionSpot
import SAM
import Tensors

/// How `regionspot watch` runs.
public struct WatchOptions: Sendable {
    public var inbox: URL
    public var outbox: URL
    /// Class names for images whose sidecar has none (manifests use their categories).
    public var vocabulary: [String]?
    public var topK = 5
    /// Write each box's mask (COCO RLE) into the outputs.
    public var masks = false
    /// Also write `name.png`: boxes, labels and masks drawn on the image.
    public var visualize = false
    /// Leave inputs in the inbox instead of moving them to done/.
    public var keepInputs = false
    /// Process what is there, then return.
    public var once = false
    /// Tries per input before it goes to failed/.
    public var maxAttempts = 3
    /// Inputs recognized at the same time.
    public var jobs = 1
    /// How long an image waits for its sidecar before it fails.
    public var sidecarTimeout: Double = 60
    /// When set, an image without a sidecar is recognized at once on the regions SAM's automatic
    /// mask generator proposes (with the vocabulary given), instead of waiting for its sidecar.
    public var proposals: AutomaticMaskGenerator.Options?

    public init(inbox: URL, outbox: URL) {
        self.inbox = inbox
        self.outbox = outbox
    }
}

/// What a watch run did.
public struct WatchSummary: Sendable, Equatable {
    public var processed = 0
    public var failed = 0
}

/// `regionspot watch`: one loop on the calling thread, with explicit state per input name, fed by
/// inotify and by job threads' completions. Inputs are done exactly once: an output that exists
/// means done (outputs are written atomically, the completion mark last), and the journal counts
/// attempts across restarts. A rescan at start and after an inotify overflow finds whatever the
/// events missed; duplicate events are harmless.
public final class Watcher: @unchecked Sendable {
    /// A file found by a rescan, changed this recently and open for writing may still be being
    /// written: it waits for its IN_CLOSE_WRITE, or for this long without change.
    static let settleSeconds = 3.0
    static let progressSeconds = 1.0

    fileprivate enum State {
        case settling(since: Date, size: Int64, modified: Date)
        case waitingForSidecar(until: Date)
        case queued
        case running
    }

    private struct Completion {
        let job: WatchJob
        let error: (any Error)?
        let seconds: Double
    }

    private let options: WatchOptions
    private let engine: any Recognizing
    private let log: @Sendable (String) -> Void
    private let wake: WakePipe
    private let lock = NSLock()
    private var completions: [Completion] = []
    private var stopRequested = false

    // Loop state (loop thread only).
    private var states: [String: State] = [:]
    private var queue: [WatchJob] = []
    private var running = 0
    private var summary = WatchSummary()
    private var startedAt = Date()

    public init(options: WatchOptions, engine: any Recognizing, log: @escaping @Sendable (String) -> Void) throws {
        self.options = options
        self.engine = engine
        self.log = log
        wake = try WakePipe()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.inbox.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw WatchError.notADirectory(options.inbox.path)
        }
        for directory in [options.outbox, doneDirectory, failedDirectory] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
    }

    private var doneDirectory: URL { options.inbox.appendingPathComponent("done") }
    private var failedDirectory: URL { options.inbox.appendingPathComponent("failed") }

    /// Asks the loop to finish the inputs in flight and return (from any thread, e.g. on SIGTERM).
    public func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
        wake.wake()
    }

    /// Runs until `stop()`, or with `once` until everything present is processed.
    public func run(progress: WatchProgress? = nil) throws -> WatchSummary {
        let journal = try WatchJournal(url: options.outbox.appendingPathComponent(".regionspot-watch/journal.jsonl"))
        let inotify = try Inotify(directory: options.inbox)  // before the scan: nothing written after it is missed
        startedAt = Date()
        startJobThreads()
        defer { for _ in 0..<max(1, options.jobs) { handOut(nil) } }
        try rescan(journal)
        var lastProgress = Date.distantPast
        while true {
            let now = Date()
            for completion in takeCompletions() { try finish(completion, journal) }
            try expireTimers(now: now, journal)
            let stopping = isStopping
            if !stopping { try dispatch(journal) }
            if now.timeIntervalSince(lastProgress) >= Self.progressSeconds {
                progress?.show(status(now: now))
                lastProgress = now
            }
            if running == 0 && (stopping || (options.once && states.isEmpty)) {
                break
            }
            for event in inotify.wait(timeout: nextTimeout(now: now), wake: wake.readEnd) {
                switch event {
                case let .file(name): try observe(name, journal, fromScan: false)
                case .overflow:
                    log("notice: inotify queue overflowed; rescanning \(options.inbox.path)")
                    try rescan(journal)
                case .directoryGone:
                    log("error: \(options.inbox.path) was deleted or moved; stopping after the inputs in flight")
                    stop()
                }
            }
        }
        progress?.finish(status(now: Date()))
        return summary
    }

    // MARK: Inputs

    private func rescan(_ journal: WatchJournal) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: options.inbox.path).sorted()
        for name in names { try observe(name, journal, fromScan: true) }
    }

    /// A complete file (event) or a file found by a rescan.
    private func observe(_ name: String, _ journal: WatchJournal, fromScan: Bool) throws {
        let url = options.inbox.appendingPathComponent(name)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              attributes[.type] as? FileAttributeType == .typeRegular else { return }
        switch InboxName(name) {
        case .ignored:
            return
        case let .sidecar(stem):
            // Its image, if waiting, can go now.
            if let image = imageName(stem: stem), case .waitingForSidecar = states[image] {
                states[image] = nil
                try observe(image, journal, fromScan: false)
            }
        case .image, .manifest:
            if let state = states[name], !state.isSettling { return }  // a duplicate event
            // A file the scan finds changed moments ago may still be being written: if a process
            // holds it open for writing (or /proc cannot say), wait for its event or for quiet.
            if fromScan, let size = attributes[.size] as? Int64, let modified = attributes[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) < Self.settleSeconds, isOpenForWriting(url.path) != false {
                states[name] = .settling(since: Date(), size: size, modified: modified)
                return
            }
            try admit(name, journal)
        }
    }

    /// An image or manifest that is complete: done already, given up on, or queued.
    private func admit(_ name: String, _ journal: WatchJournal) throws {
        let job: WatchJob
        switch InboxName(name) {
        case let .image(stem): job = .image(name: name, stem: stem, sidecar: sidecarName(stem: stem))
        case let .manifest(stem): job = .manifest(name: name, stem: stem)
        default: return
        }
        let (stem, isManifest): (String, Bool) = {
            switch job {
            case let .image(_, stem, _): return (stem, false)
            case let .manifest(_, stem): return (stem, true)
            }
        }()
        if FileManager.default.fileExists(atPath: WatchJob.completionMark(stem: stem, manifest: isManifest, in: options.outbox).path) {
            // Done before (perhaps by a run killed before it could move the input).
            try moveInputs(job.inputs, to: doneDirectory)
            states[name] = nil
            return
        }
        let attempts = journal.attempts[name] ?? 0
        if attempts >= options.maxAttempts {
            try giveUp(job, reason: "\(attempts) attempts without an answer (the last one did not finish: the process ended during it)",
                       error: nil, journal)
            return
        }
        if case let .image(_, _, sidecar) = job, sidecar == nil, options.proposals == nil {
            if options.once {
                try giveUp(job, reason: "no sidecar \(stem).boxes.json", error: nil, journal)
            } else {
                states[name] = .waitingForSidecar(until: Date().addingTimeInterval(options.sidecarTimeout))
            }
            return
        }
        states[name] = .queued
        queue.append(job)
    }

    private func imageName(stem: String) -> String? {
        states.keys.first { if case .image(stem) = InboxName($0) { return true } else { return false } }
    }

    private func sidecarName(stem: String) -> String? {
        let manager = FileManager.default
        if manager.fileExists(atPath: options.inbox.appendingPathComponent("\(stem).boxes.json").path) { return "\(stem).boxes.json" }
        let names = (try? manager.contentsOfDirectory(atPath: options.inbox.path)) ?? []
        return names.first { $0.hasSuffix(".boxes.json") && InboxName($0) == .sidecar(stem: stem) }
    }

    // MARK: Jobs

    private func dispatch(_ journal: WatchJournal) throws {
        while running < max(1, options.jobs), !queue.isEmpty {
            let job = queue.removeFirst()
            try journal.record(.attempt, job.name)  // before it starts: a crash during it still counts
            states[job.name] = .running
            running += 1
            handOut(job)
        }
    }

    // MARK: Job threads
    //
    // `jobs` threads live as long as the run (not one per input: each new thread would get a
    // fresh malloc arena and fault the encoders' working memory in again).

    private var handedOut: [WatchJob?] = []
    private let jobAvailable = DispatchSemaphore(value: 0)

    private func startJobThreads() {
        for _ in 0..<max(1, options.jobs) {
            let thread = Thread { [self] in
                while let job = nextJob() {
                    let start = Date()
                    var failure: (any Error)?
                    do { try job.run(options, engine: engine) } catch { failure = error }
                    lock.lock()
                    completions.append(Completion(job: job, error: failure, seconds: Date().timeIntervalSince(start)))
                    lock.unlock()
                    wake.wake()
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// nil ends a job thread.
    private func handOut(_ job: WatchJob?) {
        lock.lock()
        handedOut.append(job)
        lock.unlock()
        jobAvailable.signal()
    }

    private func nextJob() -> WatchJob? {
        jobAvailable.wait()
        lock.lock()
        defer { lock.unlock() }
        return handedOut.removeFirst()
    }

    private func finish(_ completion: Completion, _ journal: WatchJournal) throws {
        running -= 1
        let job = completion.job
        guard let error = completion.error else {
            try moveInputs(job.inputs, to: doneDirectory)
            try journal.record(.done, job.name)
            states[job.name] = nil  // forgotten: a late duplicate event finds its output (or no file)
            summary.processed += 1
            log(String(format: "info: %@ done in %.2f s", job.name, completion.seconds))
            return
        }
        let attempts = journal.attempts[job.name] ?? options.maxAttempts
        if attempts >= options.maxAttempts {
            try giveUp(job, reason: "\(error)", error: error, journal)
        } else {
            log("warning: \(job.name): attempt \(attempts) of \(options.maxAttempts) failed: \(error)")
            states[job.name] = .queued
            queue.append(job)
        }
    }

    /// To failed/ with `name.error.json` saying what was wrong.
    private func giveUp(_ job: WatchJob, reason: String, error: (any Error)?, _ journal: WatchJournal) throws {
        var record: [String: Any] = ["input": job.name, "reason": reason, "attempts": journal.attempts[job.name] ?? 0]
        switch error {
        case let error as InputError:
            record["file"] = error.file
            record["field"] = error.location ?? NSNull()
            record["reason"] = error.reason
        case let .badInput(file, field, why) as WatchError:
            record["file"] = file
            record["field"] = field ?? NSNull()
            record["reason"] = why
        default:
            record["file"] = options.inbox.appendingPathComponent(job.name).path
        }
        let report = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(report, to: failedDirectory.appendingPathComponent("\(job.name).error.json"))
        try moveInputs(job.inputs, to: failedDirectory)
        try journal.record(.failed, job.name)
        states[job.name] = nil
        summary.failed += 1
        log("error: \(job.name) failed: \(record["reason"]!)")
    }

    private func moveInputs(_ names: [String], to directory: URL) throws {
        guard !options.keepInputs else { return }
        for name in names {
            let source = options.inbox.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            guard rename(source.path, directory.appendingPathComponent(name).path) == 0 else {
                throw WatchError.system(call: "rename", path: source.path, errno: errno)
            }
        }
        synchronizeDirectory(of: directory.appendingPathComponent("x"))
        synchronizeDirectory(of: options.inbox.appendingPathComponent("x"))
    }

    // MARK: Time

    private func expireTimers(now: Date, _ journal: WatchJournal) throws {
        for (name, state) in states {
            switch state {
            case let .waitingForSidecar(until) where until <= now:
                guard case let .image(stem) = InboxName(name) else { continue }
                try giveUp(.image(name: name, stem: stem, sidecar: nil),
                           reason: "no sidecar \(stem).boxes.json arrived within \(Int(options.sidecarTimeout)) s", error: nil, journal)
            case let .settling(since, size, modified) where now.timeIntervalSince(since) >= Self.settleSeconds:
                let attributes = try? FileManager.default.attributesOfItem(atPath: options.inbox.appendingPathComponent(name).path)
                guard let attributes else { states[name] = nil; continue }  // gone
                let nowSize = attributes[.size] as? Int64 ?? -1, nowModified = attributes[.modificationDate] as? Date ?? .distantPast
                if nowSize == size && nowModified == modified {
                    states[name] = nil
                    try admit(name, journal)
                } else {
                    states[name] = .settling(since: now, size: nowSize, modified: nowModified)
                }
            default:
                continue
            }
        }
    }

    private func nextTimeout(now: Date) -> Double {
        var timeout = Self.progressSeconds
        for state in states.values {
            switch state {
            case let .waitingForSidecar(until): timeout = min(timeout, until.timeIntervalSince(now))
            case let .settling(since, _, _): timeout = min(timeout, Self.settleSeconds - now.timeIntervalSince(since))
            default: continue
            }
        }
        return max(0.01, timeout)
    }

    private func takeCompletions() -> [Completion] {
        lock.lock()
        defer { lock.unlock() }
        let taken = completions
        completions.removeAll()
        return taken
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    private func status(now: Date) -> WatchStatus {
        // `states` holds every input not yet done or failed (those are forgotten).
        let waiting = states.count
        let elapsed = max(1e-9, now.timeIntervalSince(startedAt))
        return WatchStatus(processed: summary.processed, failed: summary.failed, queued: queue.count, running: running,
                           waiting: waiting - queue.count - running, imagesPerSecond: Double(summary.processed) / elapsed)
    }
}

private extension Watcher.State {
    var isSettling: Bool {
        if case .settling = self { return true }
        return false
    }
}
