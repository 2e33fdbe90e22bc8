import ArgumentParser
import Foundation
import Tensors

@main
struct RegionSpotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regionspot",
        abstract: "Recognize any region of an image from an open vocabulary (RegionSpot on CPUs).",
        version: RegionSpotVersion.string,
        subcommands: [Doctor.self, Segment.self, Eval.self, Convert.self, Predict.self, Watch.self, Models.self, Embed.self, Train.self,
                      Serve.self, Worker.self, Client.self, Keys.self, Synth.self]
    )

    static func main() {
        ProcessStartup.prepare()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

enum RegionSpotVersion {
    static let string = "0.1.0"
}
