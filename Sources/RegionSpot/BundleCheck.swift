import CLIP
import Foundation
import SAM
import Tensors

/// `regionspot models check`: loads every part of a bundle the way the Recognizer does (so every
/// tensor is checked for presence and shape, and unused tensors are refused), checks the parts
/// fit together, and describes what the bundle holds.
public struct BundleCheck: Sendable {
    public let summary: String

    public static func run(_ bundle: ModelBundle) throws -> BundleCheck {
        let recognizer = try Recognizer(bundle: bundle)
        var lines: [String] = []
        let m = bundle.manifest
        lines.append("bundle \(bundle.directory.path)\(m.name.map { " (\($0))" } ?? "")")
        for (role, url) in [("sam", bundle.samURL), ("clip", bundle.clipURL), ("fusion", bundle.fusionURL)] {
            let file = try SafeTensorsFile(url: url)
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
            lines.append("  \(role): \(url.lastPathComponent), \(file.names.count) tensors, \(Self.megabytes(size))")
        }
        switch recognizer.sam.imageEncoder {
        case let .vit(encoder):
            let c = encoder.configuration
            lines.append("SAM: ViT image encoder, width \(c.embedDim), \(c.depth) blocks, \(c.heads) heads, "
                + "global attention at \(c.globalAttentionIndexes), input \(c.imageSize) px")
        case let .tinyViT(encoder):
            let c = encoder.configuration
            lines.append("SAM: TinyViT image encoder (MobileSAM), widths \(c.embedDims), depths \(c.depths), input \(c.imageSize) px")
        }
        lines.append("     mask decoder width \(recognizer.sam.maskDecoder.transformerDim), \(recognizer.sam.maskDecoder.numMaskTokens) mask tokens")
        if let v = recognizer.clipConfiguration.vision {
            lines.append("CLIP: vision ViT width \(v.width), \(v.layers) layers, \(v.heads) heads, patch \(v.patchSize), "
                + "trained at \(v.imageSize) px, fed \(recognizer.clipInputSize) px (\(1 + (recognizer.clipInputSize / v.patchSize) * (recognizer.clipInputSize / v.patchSize)) tokens)")
        }
        if let t = recognizer.clipConfiguration.text {
            lines.append("      text width \(t.width), \(t.layers) layers, \(t.heads) heads, context \(t.contextLength), "
                + "vocabulary \(t.vocabularySize), embedding \(t.outputDimension)")
        }
        let f = recognizer.fusion.config
        lines.append("fusion: to_clip \(f.tokenDim)→\(f.dModel), decoder \(f.layers) layers × \(f.heads) heads, FFN \(f.feedForward), "
            + "projector \(f.dModel)→\(f.textDim)")
        lines.append(String(format: "logit scale %.4g%@, %d prompt templates", recognizer.logitScale,
                            m.logitScale == nil ? " (from CLIP's logit_scale)" : " (manifest)", bundle.templates.count))
        lines.append("OK")
        return BundleCheck(summary: lines.joined(separator: "\n"))
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
