import ArgumentParser
import Foundation
import SyntheticWorld

extension RegionSpotCommand {
    /// `regionspot synth`: renders the synthetic long-tail world the demo encoders are trained on.
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render a synthetic long-tail world (colour × shape × texture categories) as LVIS train and val splits.",
            discussion: "Writes DIR/train.json, DIR/val.json and their PNGs in DIR/train/ and DIR/val/, and DIR/names.txt (every "
                + "category's name in id order, for --vocab-file); the same seed gives the "
                + "same bytes. Held-out categories appear only in val (\"held_out\": true); their words appear in training names. "
                + "--pretrain-images adds DIR/pretrain.json and DIR/pretrain/: training categories drawn alike, for pretraining encoders.")

        @Option(help: "Output directory.")
        var out: String
        @Option(help: "Categories, of the \(Catalogue.combinations) colour × shape × texture combinations.")
        var categories = WorldConfiguration().categories
        @Option(help: "Categories held out of the training split (shown only in val).")
        var heldOut = WorldConfiguration().heldOut
        @Option(help: "Training images.")
        var images = WorldConfiguration().trainImages
        @Option(help: "Validation images.")
        var valImages = WorldConfiguration().valImages
        @Option(help: "Images of a pretraining split for the encoders (pretrain.json, pretrain/): training categories drawn alike, no long tail.")
        var pretrainImages = WorldConfiguration().pretrainImages
        @Option(help: "Random seed.")
        var seed: UInt64 = 0
        @Option(help: ArgumentHelp("Image size.", valueName: "WxH"))
        var size = "128x128"
        @Flag(help: "Write only val.json and val/ (the training scenes are still drawn, for the frequency groups).")
        var valOnly = false
        @Flag(help: "Also write each val image's annotated boxes beside it, as NAME.boxes.json (for predict, client and watch).")
        var boxSidecars = false
        @OptionGroup var threads: ThreadOptions

        func validate() throws {
            guard Self.parseSize(size) != nil else { throw ValidationError("--size \(size): expected WIDTHxHEIGHT such as 128x128") }
        }

        func run() throws {
            var configuration = WorldConfiguration()
            configuration.categories = categories
            configuration.heldOut = heldOut
            configuration.trainImages = images
            configuration.valImages = valImages
            configuration.pretrainImages = pretrainImages
            configuration.seed = seed
            configuration.writesTrainingSplit = !valOnly
            configuration.writesBoxSidecars = boxSidecars
            (configuration.width, configuration.height) = Self.parseSize(size)!
            let start = Date()
            let summary = try threads.run { try SyntheticWorld.generate(configuration, to: URL(fileURLWithPath: out)) }
            let f = summary.frequencyCounts
            print("wrote \(out): train \(summary.trainImages) images, \(summary.trainAnnotations) annotations\(valOnly ? " (drawn, not written)" : ""); "
                + "val \(summary.valImages) images, \(summary.valAnnotations) annotations"
                + (pretrainImages > 0 ? "; pretrain \(summary.pretrainImages) images, \(summary.pretrainAnnotations) annotations" : ""))
            print("training categories: \(f["r"] ?? 0) rare, \(f["c"] ?? 0) common, \(f["f"] ?? 0) frequent; "
                + "held out: \(summary.heldOutNames.joined(separator: ", "))")
            print(String(format: "%.1f s", Date().timeIntervalSince(start)))
        }

        static func parseSize(_ text: String) -> (Int, Int)? {
            let parts = text.lowercased().split(separator: "x")
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
            return (w, h)
        }
    }
}
