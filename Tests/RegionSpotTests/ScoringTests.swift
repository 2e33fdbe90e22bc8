import Foundation
import Testing
import Tensors
@testable import RegionSpot

struct ScoringTests {
    let probabilities = Tensor(shape: [3, 4], scalars: [
        0.1, 0.6, 0.2, 0.1,
        0.25, 0.25, 0.4, 0.1,
        0.7, 0.1, 0.1, 0.1,
    ])

    @Test func topLabelsPerRegionBestFirstTiesByIndex() {
        let top = Scoring.topLabels(probabilities: probabilities, k: 2)
        #expect(top.map { $0.map(\.classIndex) } == [[1, 2], [2, 0], [0, 1]])
        #expect(top[1][1].score == 0.25)
        #expect(Scoring.topLabels(probabilities: probabilities, k: 10)[0].count == 4)
        #expect(Scoring.topLabels(probabilities: probabilities, k: 0)[0].isEmpty)
    }

    @Test func detectionsKeepProbabilityOrderAndMultiplyBoxScores() {
        let plain = Scoring.detections(probabilities: probabilities, limit: 3)
        #expect(plain.map { [$0.regionIndex, $0.classIndex] } == [[2, 0], [0, 1], [1, 2]])
        // detector.py inference_pred_box: top by probability, then × box score, not re-sorted.
        let scored = Scoring.detections(probabilities: probabilities, boxScores: [1, 0.5, 0.1], limit: 3)
        #expect(scored.map { [$0.regionIndex, $0.classIndex] } == [[2, 0], [0, 1], [1, 2]])
        #expect(abs(scored[0].score - 0.07) < 1e-7)
        #expect(abs(scored[2].score - 0.2) < 1e-7)
        #expect(Scoring.detections(probabilities: probabilities).count == 12)
    }

    @Test func partialSelectionAgreesWithFullSort() {
        var generator = SplitMix64(seed: 7)
        let values = (0..<5000).map { _ in Float(Int.random(in: 0..<300, using: &generator)) }
        let partial = values.withUnsafeBufferPointer { Scoring.best(100, of: $0) }
        let full = Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(100))
        #expect(partial == full)
    }

    @Test func lvisRecordsUseCategoryIDsAndXYWH() throws {
        let detections = Scoring.detections(probabilities: probabilities, limit: 2)
        let records = try LVISResults.records(
            imageID: 42, detections: detections,
            boxes: [[10, 20, 30, 60], [0, 0, 5, 5], [1.5, 2.5, 11.5, 4.5]], categoryIDs: [3, 7, 9, 11])
        #expect(records[0] == LVISResult(imageID: 42, categoryID: 3, bbox: [1.5, 2.5, 10, 2], score: Double(Float(0.7))))
        #expect(records[1].categoryID == 7)
        #expect(records[1].bbox == [10, 20, 20, 40])
        let json = try JSONSerialization.jsonObject(with: LVISResults.encode(records)) as! [[String: Any]]
        #expect(json[0]["image_id"] as? Int == 42)
        #expect(json[0]["category_id"] as? Int == 3)
        #expect(json[0]["segmentation"] == nil)

        #expect(throws: LVISResultsError.self) {
            try LVISResults.records(imageID: 1, detections: detections, boxes: [[0, 0, 1, 1]], categoryIDs: [1, 2, 3, 4])
        }
        #expect(throws: LVISResultsError.self) {
            try LVISResults.records(imageID: 1, detections: detections, boxes: Array(repeating: [0, 0, 1, 1], count: 3), categoryIDs: [1])
        }
    }

    @Test func segmentationRecordsDropTheBox() throws {
        let rle = CompressedRLE(height: 4, width: 5, counts: "abc")
        let records = [LVISResult(imageID: 1, categoryID: 2, bbox: [0, 0, 1, 1], score: 0.5, segmentation: rle)]
        let segm = LVISResults.segmentationOnly(records)
        #expect(segm[0].bbox == nil && segm[0].segmentation == rle)
        let json = String(decoding: try LVISResults.encode(segm), as: UTF8.self)
        #expect(json == #"[{"category_id":2,"image_id":1,"score":0.5,"segmentation":{"counts":"abc","size":[4,5]}}]"#)
    }
}
