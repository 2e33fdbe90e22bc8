import ArgumentParser
import SAM

/// The automatic mask generator's parameters, named like segment-anything's
/// (`--points-per-side` for points_per_side…), with its defaults.
struct MaskGeneratorOptions: ParsableArguments {
    private static let defaults = AutomaticMaskGenerator.Options()

    @Option(help: "Points along each side of the prompt grid.")
    var pointsPerSide: Int = defaults.pointsPerSide!
    @Option(help: "Points prompted together.")
    var pointsPerBatch: Int = defaults.pointsPerBatch
    @Option(help: "Keep masks whose predicted IoU is above this (0 keeps all).")
    var predIouThresh: Double = defaults.predIouThresh
    @Option(help: "Keep masks whose stability score is at least this (0 keeps all).")
    var stabilityScoreThresh: Double = defaults.stabilityScoreThresh
    @Option(help: "Logit offset of the stability score.")
    var stabilityScoreOffset: Double = defaults.stabilityScoreOffset
    @Option(help: "Box IoU above which duplicate masks within a crop are dropped.")
    var boxNmsThresh: Double = defaults.boxNmsThresh
    @Option(help: "Crop layers: layer i prompts 2^i × 2^i crops of the image again.")
    var cropNLayers: Int = defaults.cropNLayers
    @Option(help: "Box IoU above which duplicate masks between crops are dropped (smaller crops win).")
    var cropNmsThresh: Double = defaults.cropNmsThresh
    @Option(help: "Overlap of the first crop layer's crops, as a fraction of the image's short side.")
    var cropOverlapRatio: Double = defaults.cropOverlapRatio
    @Option(help: "Crop layer i has points-per-side / factor^i points per side.")
    var cropNPointsDownscaleFactor: Int = defaults.cropNPointsDownscaleFactor
    @Option(help: "Remove holes and islands smaller than this many pixels (0: none).")
    var minMaskRegionArea: Int = defaults.minMaskRegionArea

    var options: AutomaticMaskGenerator.Options {
        var o = AutomaticMaskGenerator.Options()
        o.pointsPerSide = pointsPerSide
        o.pointsPerBatch = pointsPerBatch
        o.predIouThresh = predIouThresh
        o.stabilityScoreThresh = stabilityScoreThresh
        o.stabilityScoreOffset = stabilityScoreOffset
        o.boxNmsThresh = boxNmsThresh
        o.cropNLayers = cropNLayers
        o.cropNmsThresh = cropNmsThresh
        o.cropOverlapRatio = cropOverlapRatio
        o.cropNPointsDownscaleFactor = cropNPointsDownscaleFactor
        o.minMaskRegionArea = minMaskRegionArea
        return o
    }

    func validate() throws {
        do {
            _ = try AutomaticMaskGenerator.pointGrids(for: options)
        } catch let error as SAMError {
            throw ValidationError("\(error)")
        }
    }
}
