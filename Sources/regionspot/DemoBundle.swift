import ArgumentParser
import Foundation

/// The demo bundle the executable embeds: small SAM-style and CLIP-style encoders pretrained on
/// `regionspot synth`'s world and a fusion head trained there by `regionspot train`
/// (Tools/build_demo.py rebuilds it). What `--model` defaults to. SwiftPM copies it beside the
/// executable, in RegionSpot_regionspot.resources/; it is looked up there, not through
/// `Bundle.module`, which would stop the process when the directory is missing.
enum DemoBundle {
    static let summary = "encoders pretrained on `regionspot synth`'s world, a fusion head trained on it"

    static func directory() throws -> URL {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let directory = executable.deletingLastPathComponent()
            .appendingPathComponent("RegionSpot_regionspot.resources/DemoBundle")
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("regionspot.json").path) else {
            throw ValidationError("no --model given, and the embedded demo bundle is not beside the executable "
                + "(\(directory.path)); give --model BUNDLE")
        }
        return directory
    }
}
