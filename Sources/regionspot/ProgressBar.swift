import Foundation

/// A one-line progress bar on stderr: redrawn in place on a terminal, else a line every
/// `every` updates (logs and tests read whole lines).
struct ProgressBar {
    let total: Int
    let start = DispatchTime.now()
    let terminal = isatty(STDERR_FILENO) != 0
    let every: Int

    init(total: Int) {
        self.total = total
        every = max(1, total / 50)
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// `done` of `total` after `elapsed` seconds, with `details` (rates, loss).
    func update(_ done: Int, startedAt first: Int = 0, _ details: String) {
        guard terminal || done % every == 0 || done == total else { return }
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = Double(done - first) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = "\(done)/\(total) [\(bar)] \(details) ETA \(Self.duration(eta))"
        write(terminal ? "\r\u{1B}[K" + line + (done == total ? "\n" : "") : line + "\n")
    }

    func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
