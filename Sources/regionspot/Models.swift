import ArgumentParser
import Foundation
import RegionSpot

extension RegionSpotCommand {
    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create and inspect model bundles.", subcommands: [Create.self, Check.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make a bundle from SAM, CLIP and RegionSpot weights as downloaded, then check it as `models check` does.",
                discussion: "Each part may be a .pth / .pt (torch.save or TorchScript, e.g. sam_vit_b_01ec64.pth, ViT-L-14-336px.pt, "
                    + "regionspot_bl_336.pth) or a .safetensors file; it is stored in DIR as <name>.safetensors. The CLIP input "
                    + "size is the one CLIP was trained at (224, or 336 for ViT-L/14@336px) and the logit scale exp(CLIP's "
                    + "logit_scale). Parts that do not fit (SAM's token width, CLIP's width, the text width) are refused "
                    + "before the manifest is written. Running it again rewrites the same bundle.")

            @Option(help: "SAM weights (segment-anything .pth, or .safetensors).")
            var sam: String
            @Option(help: "CLIP weights (OpenAI TorchScript .pt, or .safetensors).")
            var clip: String
            @Option(help: "RegionSpot fusion weights (detectron2 .pth, or .safetensors).")
            var fusion: String
            @Option(help: "Bundle directory to write (created if needed).")
            var out: String
            @Option(help: "The bundle's name in its manifest.")
            var name: String?
            @Flag(help: "Store the weights as F16 (half the size; computation stays fp32).")
            var half = false
            @Option(help: "Side of the square CLIP sees (default: the size CLIP was trained at).")
            var clipInputSize: Int?

            func validate() throws {
                if let clipInputSize, clipInputSize < 1 { throw ValidationError("--clip-input-size must be positive, got \(clipInputSize)") }
            }

            func run() throws {
                let parts = BundleCreation.Parts(sam: URL(fileURLWithPath: sam), clip: URL(fileURLWithPath: clip),
                                                 fusion: URL(fileURLWithPath: fusion))
                print(try BundleCreation.create(parts, in: URL(fileURLWithPath: out), name: name, half: half,
                                                clipInputSize: clipInputSize).summary)
            }
        }

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
