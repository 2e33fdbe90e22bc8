import ArgumentParser
import Foundation
import Imaging
import Tensors

/// Image decoding and SAM's preprocessing resize (Benchmarks/imaging.sh runs Pillow beside it).
struct ImagingBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imaging", abstract: "JPEG decode and Pillow-exact resize of one image, ms per call.")

    @Option(help: "A JPEG/PNG/WebP/BMP file (imaging.sh writes a 1500×1000 JPEG).")
    var image: String
    @Option var seconds: Double = 2
    @Option(help: "Longest side after the SAM-style resize.")
    var longest = 1024

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: image))
        let decoded = try RGBImage(decoding: data, source: image)
        // SAM's ResizeLongestSide: scale = longest / max(h, w), new = int(old * scale + 0.5).
        let scale = Double(longest) / Double(max(decoded.width, decoded.height))
        let width = Int(Double(decoded.width) * scale + 0.5), height = Int(Double(decoded.height) * scale + 0.5)
        report("decode", milliseconds { _ = try? RGBImage(decoding: data, source: image) })
        report("pil-bilinear \(width)x\(height)", milliseconds { _ = decoded.pilResized(width: width, height: height) })
        report("pil-bicubic 224x224", milliseconds { _ = decoded.pilResized(width: 224, height: 224, filter: .bicubic) })
        report("opencv-linear \(width)x\(height)", milliseconds { _ = decoded.resized(width: width, height: height) })
        report("encode-png", milliseconds { _ = try? decoded.encoded(as: .png) })
    }

    private func report(_ name: String, _ ms: Double) {
        print(String(format: "ours %@: %.2f ms (threads %d)", name, ms, Parallel.threadCount))
    }

    /// Mean wall time of `body` over at least `seconds`, after one warm-up call.
    private func milliseconds(_ body: () -> Void) -> Double {
        body()
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            body()
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return elapsed * 1e3 / Double(runs)
    }
}
