import ArgumentParser
import Foundation
import Imaging
import SAM
import Tensors

/// `regionspot segment`: SAM masks, IoU scores and mask tokens for boxes on one image.
struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment boxes with SAM: masks (PNG), mask_tokens.npy, iou.npy, image_embedding.npy.")

    @Option(help: "SAM weights (.safetensors; segment-anything, MobileSAM or Hugging Face names).")
    var sam: String
    @Argument(help: "The image (its size gives the box coordinate frame). Optional with --pixels.")
    var image: String?
    @Option(name: .customLong("box"), help: "A box x0,y0,x1,y1 in image pixels (repeat for more).")
    var boxes: [String] = []
    @Option(help: "An already preprocessed [3, S, S] tensor (.npy) to encode instead of the image.")
    var pixels: String?
    @Flag(help: "Three masks per box (SAM's multimask output) instead of one.")
    var multimask = false
    @Option(help: "Output directory.")
    var out: String

    func validate() throws {
        guard image != nil || pixels != nil else { throw ValidationError("give an IMAGE or --pixels") }
        guard !boxes.isEmpty else { throw ValidationError("give at least one --box x0,y0,x1,y1") }
        for box in boxes where SegmentRun.parseBox(box) == nil {
            throw ValidationError("--box \(box): expected four numbers x0,y0,x1,y1")
        }
    }

    func run() throws {
        let result = try SegmentRun.run(weights: URL(fileURLWithPath: sam), image: image.map { URL(fileURLWithPath: $0) },
                                        pixels: pixels.map { URL(fileURLWithPath: $0) },
                                        boxes: boxes.compactMap { SegmentRun.parseBox($0).flatMap(Box.init) }, multimask: multimask)
        try SegmentRun.write(result, to: URL(fileURLWithPath: out))
    }
}
