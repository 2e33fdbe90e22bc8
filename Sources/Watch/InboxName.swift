import Foundation

/// What a file name in the inbox stands for.
enum InboxName: Equatable {
    /// An image to recognize; `stem` names its sidecar and outputs.
    case image(stem: String)
    /// `stem.boxes.json` (or `image.ext.boxes.json`): the boxes, scores and vocabulary of an image.
    case sidecar(stem: String)
    /// Any other JSON: an LVIS/COCO manifest for a whole batch.
    case manifest(stem: String)
    /// Hidden and temporary files, outputs of ours, and anything else.
    case ignored

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]

    init(_ name: String) {
        let lower = name.lowercased()
        if name.hasPrefix(".") || lower.hasSuffix(".tmp") || lower.hasSuffix(".part") || name.hasSuffix("~")
            || lower.hasSuffix(".error.json") {
            self = .ignored
        } else if lower.hasSuffix(".boxes.json") {
            var stem = String(name.dropLast(".boxes.json".count))
            // "photo.jpg.boxes.json" belongs to photo.jpg as well as "photo.boxes.json" does.
            if let dot = stem.lastIndex(of: "."), Self.imageExtensions.contains(stem[stem.index(after: dot)...].lowercased()) {
                stem = String(stem[..<dot])
            }
            self = .sidecar(stem: stem)
        } else if lower.hasSuffix(".json") {
            self = .manifest(stem: String(name.dropLast(".json".count)))
        } else if let dot = name.lastIndex(of: "."), Self.imageExtensions.contains(name[name.index(after: dot)...].lowercased()),
                  dot > name.startIndex {
            self = .image(stem: String(name[..<dot]))
        } else {
            self = .ignored
        }
    }
}
