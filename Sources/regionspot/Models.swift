import ArgumentParser
import Foundation
import RegionSpot

extension RegionSpotCommand {
    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inspect model bundles.", subcommands: [Check.self])

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Validate a bundle (manifest, files, every tensor's presence and shape) and print what it holds.")

            @Argument(help: "Bundle directory.")
            var directory: String

            func run() throws {
                print(try BundleCheck.run(ModelBundle(directory: URL(fileURLWithPath: directory))).summary)
            }
        }
    }
}
