import ArgumentParser
import Foundation
import ZeroMQ

extension RegionSpotCommand {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CURVE keys for the daemon, its workers and its clients.",
            subcommands: [Generate.self])

        struct Generate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write a new CURVE key pair: DIR/NAME.public and DIR/NAME.secret (mode 0600), Z85 text.",
                discussion: """
                    The daemon takes its secret file with `serve --curve-secret`; clients and workers take it with \
                    `--curve-secret` and the daemon's public file with `--curve-server-key`. A client's public file \
                    copied into the daemon's `--curve-allow` directory lets it in (after SIGHUP).
                    """)

            @Option(help: "Directory to write the key files into (created if missing).")
            var out: String
            @Option(help: "Base name of the two files.")
            var name = "regionspot"

            func validate() throws {
                guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
                    throw ValidationError("--name must be a plain file name, got '\(name)'")
                }
            }

            func run() throws {
                guard ZeroMQLibrary.has("curve") else {
                    throw ValidationError("this libzmq (\(ZeroMQLibrary.version)) was built without CURVE (libsodium): no keys can be made")
                }
                let (publicPath, secretPath) = try CurveKeyFiles.write(CurveKeyPair.generate(), name: name, into: out)
                print("public key: \(publicPath)\nsecret key: \(secretPath)")
            }
        }
    }
}
