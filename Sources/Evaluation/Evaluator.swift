import Foundation
import Imaging
import Tensors

/// The thresholds and ranges both references share (`Params`), as numpy computes them.
public enum EvaluationParams {
    /// `np.linspace(0.5, 0.95, 10)`: i·step + start, the last set to stop.
    public static let iouThresholds: [Double] = linspace(0.5, 0.95, 10)
    /// `np.linspace(0, 1, 101)`.
    public static let recallThresholds: [Double] = linspace(0, 1, 101)
    /// all, small, medium, large: [lo, hi], both inclusive, on the ground truth's `area`.
    public static let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
    public static let areaLabels = ["all", "small", "medium", "large"]

    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        let step = (stop - start) / Double(num - 1)
        var values = (0..<num).map { Double($0) * step + start }
        values[num - 1] = stop
        return values
    }
}

/// What was left out before matching, the way the references silently leave it out.
public struct DropCounts: Sendable, Equatable {
    /// Detections beyond the 300 best of their image (LVIS).
    public var detectionsOverImageCap = 0
    /// Detections whose category the ground truth does not have.
    public var detectionsUnknownCategory = 0
    /// Detections with area ≤ 0 (LVIS keeps 0 < area < ∞).
    public var detectionsZeroArea = 0
    /// Detections in a category neither annotated nor listed negative for their image (LVIS).
    public var detectionsNotFederated = 0
    /// Ground truth with area ≤ 0 (LVIS).
    public var groundTruthZeroArea = 0
    /// Ground truth on an image or category the file does not list.
    public var groundTruthUnknownImageOrCategory = 0
}

/// The accumulated result: precision [T, R, K, A, M] and recall [T, K, A, M], C-order, −1
/// where a category has no ground truth of that area, as the references' `eval` dicts.
public struct EvaluationResult: Sendable {
    public let format: DatasetFormat
    public let iouType: IoUType
    public let categories: [Category]
    public let maxDets: [Int]
    public let precision: [Double]
    public let recall: [Double]
    public let dropped: DropCounts
    public let imageCount: Int
    public let detectionCount: Int

    var T: Int { EvaluationParams.iouThresholds.count }
    var R: Int { EvaluationParams.recallThresholds.count }
    var K: Int { categories.count }
    var A: Int { EvaluationParams.areaRanges.count }
    var M: Int { maxDets.count }

    public func precision(t: Int, r: Int, k: Int, a: Int, m: Int) -> Double {
        precision[(((t * R + r) * K + k) * A + a) * M + m]
    }

    public func recall(t: Int, k: Int, a: Int, m: Int) -> Double {
        recall[((t * K + k) * A + a) * M + m]
    }

    /// `np.mean(s[s > -1])` over the selected slice in C order, or −1 when nothing is valid
    /// (`_summarize`). `iou` picks one threshold by exact equality; `categories` a subset.
    public func summarize(precision ap: Bool, iou: Double? = nil, area: Int = 0, maxDet: Int? = nil,
                          categories subset: [Int]? = nil) -> Double {
        let m = maxDet.flatMap { maxDets.firstIndex(of: $0) } ?? (M - 1)
        let ts = (0..<T).filter { iou == nil || EvaluationParams.iouThresholds[$0] == iou! }
        let ks = subset ?? Array(0..<K)
        var values: [Double] = []
        values.reserveCapacity(ts.count * (ap ? R : 1) * ks.count)
        for t in ts {
            if ap {
                for r in 0..<R {
                    for k in ks {
                        let v = precision(t: t, r: r, k: k, a: area, m: m)
                        if v > -1 { values.append(v) }
                    }
                }
            } else {
                for k in ks {
                    let v = recall(t: t, k: k, a: area, m: m)
                    if v > -1 { values.append(v) }
                }
            }
        }
        return values.isEmpty ? -1 : NumpyMean.mean(values)
    }

    /// A category's AP over all thresholds and recalls, area "all", largest maxDet
    /// (detectron2's per-category table), −1 without ground truth.
    public func categoryAP(_ k: Int) -> Double { summarize(precision: true, categories: [k]) }

    /// Mean interpolated precision at each recall threshold over the given categories (all
    /// IoU thresholds, or one), area "all": the curve the plots draw. Nil where no category counts.
    public func precisionCurve(categories subset: [Int]? = nil, iou: Double? = nil) -> [Double?] {
        let ks = subset ?? Array(0..<K)
        let ts = (0..<T).filter { iou == nil || EvaluationParams.iouThresholds[$0] == iou! }
        return (0..<R).map { r in
            var values: [Double] = []
            for t in ts {
                for k in ks {
                    let v = precision(t: t, r: r, k: k, a: 0, m: M - 1)
                    if v > -1 { values.append(v) }
                }
            }
            return values.isEmpty ? nil : NumpyMean.mean(values)
        }
    }
}

/// Matching and accumulation shared by `LVISEval` and `COCOeval`: pairs (image, category) are
/// evaluated per category, categories in parallel over the cores, each accumulated as soon as
/// its pairs are done, so no per-pair results are kept.
enum Evaluator {
    static let precisionEpsilon = 2.220446049250313e-16 // np.spacing(1)

    static func evaluate(gt: GroundTruth, dt: Detections, iouType: IoUType) -> EvaluationResult {
        let lvis = gt.format == .lvis
        let maxDets = lvis ? [Int.max] : [1, 10, 100]
        var dropped = DropCounts()
        let imageCount = gt.imageIDs.count
        let K = gt.categories.count

        // Detections that take part, in input order.
        var keep = [Bool](repeating: true, count: dt.count)
        if lvis { dropped.detectionsOverImageCap = capPerImage(dt: dt, imageCount: imageCount, limit: 300, keep: &keep) }
        for i in 0..<dt.count where keep[i] {
            if dt.category[i] < 0 {
                keep[i] = false
                dropped.detectionsUnknownCategory += 1
            } else if lvis && !(dt.area[i] > 0 && dt.area[i] < .infinity) {
                keep[i] = false
                dropped.detectionsZeroArea += 1
            }
        }
        var keepGT = [Bool](repeating: true, count: gt.annotationCount)
        for i in 0..<gt.annotationCount {
            if gt.annImage[i] < 0 || gt.annCategory[i] < 0 {
                keepGT[i] = false
                dropped.groundTruthUnknownImageOrCategory += 1
            } else if lvis && !(gt.annArea[i] > 0 && gt.annArea[i] < .infinity) {
                keepGT[i] = false
                dropped.groundTruthZeroArea += 1
            }
        }
        let dtGroups = group(count: dt.count, keep: keep, image: dt.image, category: dt.category,
                             rank: gt.imageRank, imageCount: imageCount, categoryCount: K)
        let gtGroups = group(count: gt.annotationCount, keep: keepGT, image: gt.annImage, category: gt.annCategory,
                             rank: gt.imageRank, imageCount: imageCount, categoryCount: K)
        // Per category, the ranks of images listing it as negative / not exhaustive (LVIS).
        let negatives = invert(gt.negativeCategories, rank: gt.imageRank, categoryCount: K)
        let notExhaustive = invert(gt.notExhaustiveCategories, rank: gt.imageRank, categoryCount: K)

        let T = EvaluationParams.iouThresholds.count, R = EvaluationParams.recallThresholds.count
        let A = EvaluationParams.areaRanges.count, M = maxDets.count
        var precision = [Double](repeating: -1, count: T * R * K * A * M)
        var recall = [Double](repeating: -1, count: T * K * A * M)
        var federatedDrops = [Int](repeating: 0, count: K)
        let context = PairContext(gt: gt, dt: dt, iouType: iouType, lvis: lvis)
        precision.withUnsafeMutableBufferPointer { precisionOut in
            recall.withUnsafeMutableBufferPointer { recallOut in
                federatedDrops.withUnsafeMutableBufferPointer { dropsOut in
                    // Large categories first keeps both cores busy to the end.
                    let order = (0..<K).sorted {
                        dtGroups.size($0) + gtGroups.size($0) > dtGroups.size($1) + gtGroups.size($1)
                    }
                    Parallel.forEach(K) { n in
                        let k = order[n]
                        var accumulator = CategoryAccumulator()
                        dropsOut[k] = walkPairs(k: k, dtGroups: dtGroups, gtGroups: gtGroups, negatives: negatives,
                                                notExhaustive: notExhaustive, context: context, into: &accumulator)
                        accumulator.accumulate(k: k, K: K, maxDets: maxDets, precision: precisionOut, recall: recallOut)
                    }
                }
            }
        }
        dropped.detectionsNotFederated = federatedDrops.reduce(0, +)
        return EvaluationResult(format: gt.format, iouType: iouType, categories: gt.categories, maxDets: maxDets,
                                precision: precision, recall: recall, dropped: dropped, imageCount: imageCount,
                                detectionCount: dt.count)
    }

    // MARK: - Loading-time rules

    /// lvis-api `limit_dets_per_image`: an image with more than `limit` results keeps its
    /// `limit` best by a stable descending sort on score. Returns how many were dropped.
    static func capPerImage(dt: Detections, imageCount: Int, limit: Int, keep: inout [Bool]) -> Int {
        var perImage = [Int32](repeating: 0, count: imageCount)
        for image in dt.image { perImage[Int(image)] += 1 }
        let over = perImage.indices.filter { perImage[$0] > limit }
        guard !over.isEmpty else { return 0 }
        var slot = [Int32](repeating: -1, count: imageCount)
        for (n, image) in over.enumerated() { slot[image] = Int32(n) }
        var members = [[Int]](repeating: [], count: over.count)
        for i in 0..<dt.count where slot[Int(dt.image[i])] >= 0 { members[Int(slot[Int(dt.image[i])])].append(i) }
        var dropped = 0
        for list in members {
            let sorted = list.sorted { dt.score[$0] > dt.score[$1] || (dt.score[$0] == dt.score[$1] && $0 < $1) }
            for i in sorted[limit...] { keep[i] = false }
            dropped += sorted.count - limit
        }
        return dropped
    }

    /// Records grouped by category, then by image rank, then by position in the file (two
    /// stable counting sorts): the order in which the references visit them.
    struct Groups: Sendable {
        var offsets: [Int]
        var indices: [Int32]
        func size(_ k: Int) -> Int { offsets[k + 1] - offsets[k] }
    }

    static func group(count: Int, keep: [Bool], image: [Int32], category: [Int32], rank: [Int32],
                      imageCount: Int, categoryCount: Int) -> Groups {
        var byRank = [Int](repeating: 0, count: imageCount + 1)
        for i in 0..<count where keep[i] { byRank[Int(rank[Int(image[i])]) + 1] += 1 }
        for r in 0..<imageCount { byRank[r + 1] += byRank[r] }
        let kept = byRank[imageCount]
        var rankOrder = [Int32](repeating: 0, count: kept)
        for i in 0..<count where keep[i] {
            let r = Int(rank[Int(image[i])])
            rankOrder[byRank[r]] = Int32(i)
            byRank[r] += 1
        }
        var offsets = [Int](repeating: 0, count: categoryCount + 1)
        for i in rankOrder { offsets[Int(category[Int(i)]) + 1] += 1 }
        for k in 0..<categoryCount { offsets[k + 1] += offsets[k] }
        var cursor = offsets
        var indices = [Int32](repeating: 0, count: kept)
        for i in rankOrder {
            let k = Int(category[Int(i)])
            indices[cursor[k]] = i
            cursor[k] += 1
        }
        return Groups(offsets: offsets, indices: indices)
    }

    /// Per category, the sorted ranks of the images whose list holds it.
    static func invert(_ lists: [[Int32]], rank: [Int32], categoryCount: Int) -> [[Int32]] {
        var result = [[Int32]](repeating: [], count: categoryCount)
        for (image, list) in lists.enumerated() {
            for k in list { result[Int(k)].append(rank[image]) }
        }
        return result.map { $0.sorted() }
    }

    // MARK: - Per category

    /// Visits the category's (image, category) pairs in image-id order, applying the LVIS
    /// federated filter, and evaluates each. Returns the detections the filter dropped.
    static func walkPairs(k: Int, dtGroups: Groups, gtGroups: Groups, negatives: [[Int32]], notExhaustive: [[Int32]],
                          context: PairContext, into accumulator: inout CategoryAccumulator) -> Int {
        let rank = context.gt.imageRank
        var d = dtGroups.offsets[k], g = gtGroups.offsets[k]
        let dEnd = dtGroups.offsets[k + 1], gEnd = gtGroups.offsets[k + 1]
        let negative = negatives[k], exhaustive = notExhaustive[k]
        var negativeCursor = 0, exhaustiveCursor = 0
        var dropped = 0
        var pairGT: [Int] = [], pairDT: [Int] = []
        var scratch = PairScratch()
        while d < dEnd || g < gEnd {
            let dRank = d < dEnd ? rank[Int(context.dt.image[Int(dtGroups.indices[d])])] : Int32.max
            let gRank = g < gEnd ? rank[Int(context.gt.annImage[Int(gtGroups.indices[g])])] : Int32.max
            let r = min(dRank, gRank)
            pairGT.removeAll(keepingCapacity: true)
            pairDT.removeAll(keepingCapacity: true)
            while g < gEnd, rank[Int(context.gt.annImage[Int(gtGroups.indices[g])])] == r {
                pairGT.append(Int(gtGroups.indices[g]))
                g += 1
            }
            while d < dEnd, rank[Int(context.dt.image[Int(dtGroups.indices[d])])] == r {
                pairDT.append(Int(dtGroups.indices[d]))
                d += 1
            }
            var isNotExhaustive = false
            if context.lvis {
                while negativeCursor < negative.count && negative[negativeCursor] < r { negativeCursor += 1 }
                while exhaustiveCursor < exhaustive.count && exhaustive[exhaustiveCursor] < r { exhaustiveCursor += 1 }
                let isNegative = negativeCursor < negative.count && negative[negativeCursor] == r
                isNotExhaustive = exhaustiveCursor < exhaustive.count && exhaustive[exhaustiveCursor] == r
                if pairGT.isEmpty && !isNegative {
                    dropped += pairDT.count
                    pairDT.removeAll(keepingCapacity: true)
                }
            }
            if pairGT.isEmpty && pairDT.isEmpty { continue }
            context.evaluatePair(gts: pairGT, dts: pairDT, imageRank: r, notExhaustive: isNotExhaustive,
                                 scratch: &scratch, into: &accumulator)
        }
        return dropped
    }
}

/// Reusable buffers for one pair.
struct PairScratch {
    var ious: [Double] = []
    var order: [Int] = []
    var gtIgnore: [Bool] = []
    var gtSorted: [Int] = []
    var matched: [Bool] = []
}

/// What the pairs of one category produce: per detection its score, image rank, rank within
/// its pair, and for each area range 2 bits per IoU threshold (bit 0: true positive,
/// bit 1: false positive, neither: ignored); per area range the count of ground truth that counts.
struct CategoryAccumulator {
    var scores: [Double] = []
    var imageRanks: [Int32] = []
    var positions: [Int32] = []
    var states: [UInt32] = [] // 4 per detection
    var groundTruth = [Int](repeating: 0, count: 4)

    /// `accumulate()` for one category: merge-sorted by score (ties by image id, then rank in
    /// the pair), cumulative TP/FP, interpolated precision at the 101 recall points.
    func accumulate(k: Int, K: Int, maxDets: [Int], precision: UnsafeMutableBufferPointer<Double>,
                    recall: UnsafeMutableBufferPointer<Double>) {
        let T = EvaluationParams.iouThresholds.count, R = EvaluationParams.recallThresholds.count
        let A = EvaluationParams.areaRanges.count, M = maxDets.count
        let recallThresholds = EvaluationParams.recallThresholds
        let order = scores.indices.sorted {
            if scores[$0] != scores[$1] { return scores[$0] > scores[$1] }
            if imageRanks[$0] != imageRanks[$1] { return imageRanks[$0] < imageRanks[$1] }
            return positions[$0] < positions[$1]
        }
        var rc = [Double](repeating: 0, count: order.count), pr = rc
        for (m, maxDet) in maxDets.enumerated() {
            let selected = maxDet == Int.max ? order : order.filter { Int(positions[$0]) < maxDet }
            let nd = selected.count
            for a in 0..<A where groundTruth[a] > 0 {
                let numGT = Double(groundTruth[a])
                for t in 0..<T {
                    var tp = 0, fp = 0
                    let shift = UInt32(2 * t)
                    for (i, j) in selected.enumerated() {
                        let bits = states[4 * j + a] >> shift
                        tp += Int(bits & 1)
                        fp += Int((bits >> 1) & 1)
                        rc[i] = Double(tp) / numGT
                        pr[i] = Double(tp) / (Double(fp) + Double(tp) + Evaluator.precisionEpsilon)
                    }
                    recall[((t * K + k) * A + a) * M + m] = nd > 0 ? rc[nd - 1] : 0
                    if nd > 1 {
                        for i in stride(from: nd - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] }
                    }
                    var i = 0
                    for r in 0..<R {
                        while i < nd && rc[i] < recallThresholds[r] { i += 1 }
                        precision[(((t * R + r) * K + k) * A + a) * M + m] = i < nd ? pr[i] : 0
                    }
                }
            }
        }
    }
}

/// Everything a pair evaluation reads.
struct PairContext: @unchecked Sendable {
    let gt: GroundTruth
    let dt: Detections
    let iouType: IoUType
    let lvis: Bool

    /// `compute_iou` + `evaluate_img` for the four area ranges of one (image, category).
    func evaluatePair(gts: [Int], dts: [Int], imageRank: Int32, notExhaustive: Bool,
                      scratch: inout PairScratch, into acc: inout CategoryAccumulator) {
        // Detections by score, stable (ties keep file order); COCO keeps the best 100.
        var order = dts
        order.sort { dt.score[$0] > dt.score[$1] || (dt.score[$0] == dt.score[$1] && $0 < $1) }
        if !lvis && order.count > 100 { order.removeSubrange(100...) }
        let D = order.count, G = gts.count
        let thresholds = EvaluationParams.iouThresholds
        scratch.ious.removeAll(keepingCapacity: true)
        scratch.ious.reserveCapacity(D * G)
        if D > 0 && G > 0 {
            if iouType == .bbox {
                for d in order {
                    let b = 4 * d
                    for g in gts {
                        let c = 4 * g
                        scratch.ious.append(RLE.boxIoU(dt.box[b], dt.box[b + 1], dt.box[b + 2], dt.box[b + 3],
                                                       gt.annBox[c], gt.annBox[c + 1], gt.annBox[c + 2], gt.annBox[c + 3],
                                                       crowd: gt.annCrowd[g]))
                    }
                }
            } else {
                let gtBoxes = gts.map { gt.annRLE[$0].boundingBox }
                for d in order {
                    let dtBox = dt.rle[d].boundingBox
                    for (n, g) in gts.enumerated() {
                        scratch.ious.append(RLE.iou(dt.rle[d], gt.annRLE[g], dtBox: dtBox, gtBox: gtBoxes[n], crowd: gt.annCrowd[g]))
                    }
                }
            }
        }
        let base = acc.scores.count
        for (position, d) in order.enumerated() {
            acc.scores.append(dt.score[d])
            acc.imageRanks.append(imageRank)
            acc.positions.append(Int32(position))
        }
        acc.states.append(contentsOf: repeatElement(0, count: 4 * D))

        for (a, range) in EvaluationParams.areaRanges.enumerated() {
            // Ground truth outside the range is ignored and sorted last (stable); `order`
            // holds each sorted GT's column in the IoU rows.
            scratch.gtSorted.removeAll(keepingCapacity: true)
            scratch.order.removeAll(keepingCapacity: true)
            scratch.gtIgnore.removeAll(keepingCapacity: true)
            for pass in [false, true] {
                for (n, g) in gts.enumerated() {
                    let outside = gt.annIgnore[g] || gt.annArea[g] < range.0 || gt.annArea[g] > range.1
                    guard outside == pass else { continue }
                    scratch.gtSorted.append(g)
                    scratch.order.append(n)
                    scratch.gtIgnore.append(outside)
                }
                if !pass { acc.groundTruth[a] += scratch.gtSorted.count }
            }

            for (t, threshold) in thresholds.enumerated() {
                scratch.matched.removeAll(keepingCapacity: true)
                scratch.matched.append(contentsOf: repeatElement(false, count: G))
                let shift = UInt32(2 * t)
                for d in 0..<D {
                    var best = min(threshold, 1 - 1e-10)
                    var m = -1
                    if G > 0 {
                        let row = d * G
                        for n in 0..<G {
                            if scratch.matched[n] && !gt.annCrowd[scratch.gtSorted[n]] { continue }
                            if m > -1 && !scratch.gtIgnore[m] && scratch.gtIgnore[n] { break }
                            let iou = scratch.ious[row + scratch.order[n]]
                            if iou < best { continue }
                            best = iou
                            m = n
                        }
                    }
                    var isMatched = false, ignored = false
                    if m >= 0 {
                        scratch.matched[m] = true
                        ignored = scratch.gtIgnore[m]
                        isMatched = gt.annID[scratch.gtSorted[m]] != 0 // dt_m holds the GT id
                    }
                    if !isMatched {
                        let area = dt.area[order[d]]
                        if area < range.0 || area > range.1 || notExhaustive { ignored = true }
                    }
                    if !ignored { acc.states[4 * (base + d) + a] |= (isMatched ? 1 : 2) << shift }
                }
            }
        }
    }
}
