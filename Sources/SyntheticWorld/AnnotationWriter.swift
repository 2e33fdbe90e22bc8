import Foundation

/// Writes LVIS v1 annotation files by hand, with a fixed key order, so their bytes depend only
/// on the world. Training and pretraining files name only training categories; validation files
/// name all, the held-out ones marked `"held_out": true` (a field the LVIS evaluators ignore).
/// Frequencies and counts are always the training split's.
struct AnnotationWriter: Sendable {
    let catalogue: Catalogue
    let statistics: TrainingStatistics
    let configuration: WorldConfiguration

    func file(_ records: [SceneRecord], split: String) -> String {
        let categories = catalogue.categories.filter { split == "val" || !$0.heldOut }
        var out = "{\"info\": {\"description\": \"RegionSpot synthetic world (regionspot synth)\", \"split\": \"\(split)\", "
            + "\"seed\": \(configuration.seed), \"categories\": \(configuration.categories), \"held_out\": \(configuration.heldOut)},\n"
        out += "\"images\": [\n"
        for (index, record) in records.enumerated() {
            out += "{\"id\": \(index + 1), \"file_name\": \"\(record.fileName)\", \"height\": \(configuration.height), "
                + "\"width\": \(configuration.width), \"neg_category_ids\": \(ids(record.negatives)), "
                + "\"not_exhaustive_category_ids\": \(ids(record.partlyAnnotated))}"
            out += index + 1 < records.count ? ",\n" : "\n"
        }
        out += "],\n\"annotations\": [\n"
        var annotationID = 0
        let total = records.reduce(0) { $0 + $1.objects.count }
        for (index, record) in records.enumerated() {
            for object in record.objects {
                annotationID += 1
                let b = object.box
                out += "{\"id\": \(annotationID), \"image_id\": \(index + 1), \"category_id\": \(object.category + 1), "
                    + "\"bbox\": [\(b[0]), \(b[1]), \(b[2]), \(b[3])], \"area\": \(object.area), "
                    + "\"segmentation\": {\"size\": [\(configuration.height), \(configuration.width)], "
                    + "\"counts\": \"\(escaped(object.mask.compressedString))\"}}"
                out += annotationID < total ? ",\n" : "\n"
            }
        }
        out += "],\n\"categories\": [\n"
        for (index, category) in categories.enumerated() {
            let i = category.id - 1
            out += "{\"id\": \(category.id), \"name\": \"\(category.name)\", \"synonyms\": [\"\(category.name)\"], "
                + "\"frequency\": \"\(statistics.frequency(i))\", \"image_count\": \(statistics.imageCounts[i]), "
                + "\"instance_count\": \(statistics.instanceCounts[i]), \"color\": \"\(category.color.rawValue)\", "
                + "\"shape\": \"\(category.shape.rawValue)\", \"texture\": \"\(category.texture.rawValue)\", "
                + "\"held_out\": \(category.heldOut)}"
            out += index + 1 < categories.count ? ",\n" : "\n"
        }
        out += "]}\n"
        return out
    }

    /// Catalogue indices as a JSON list of category ids.
    private func ids(_ indices: [Int]) -> String { "[" + indices.map { String($0 + 1) }.joined(separator: ", ") + "]" }

    /// COCO's compressed counts use characters 48…111, of which only the backslash needs escaping in JSON.
    private func escaped(_ counts: String) -> String { counts.replacingOccurrences(of: "\\", with: "\\\\") }
}
