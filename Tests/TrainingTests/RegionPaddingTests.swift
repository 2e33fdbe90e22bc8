import Testing
import Tensors
@testable import Training

struct RegionPaddingTests {
    @Test func repeatPaddingMatchesPrepare_prompt_train() throws {
        let batch = try Fixtures.file("training_batch")
        let counts = try Fixtures.integers(batch, "region_counts")
        let padded = try PaddedRegions(regionCounts: counts)
        #expect(padded.source.map { $0! } == (try Fixtures.integers(batch, "padded_source")))
        #expect(padded.lossWeights == Array(repeating: 1 / Float(5), count: 15))
        #expect(padded.keyPadding == nil)
        // 2 regions to 5 slots: the last one three times; 3 to 5: the last two twice.
        #expect(padded.source.prefix(5).map { $0! } == [0, 0, 1, 1, 1])
        #expect(padded.source.suffix(5).map { $0! } == [7, 8, 8, 9, 9])
    }

    @Test func maskedPaddingPutsRealRegionsFirst() throws {
        let batch = try Fixtures.file("training_batch")
        let padded = try PaddedRegions(regionCounts: try Fixtures.integers(batch, "region_counts"), padding: .masked)
        #expect(padded.source.map { $0 ?? -1 } == (try Fixtures.integers(batch, "masked_source")))
        #expect(padded.keyPadding == padded.source.map { $0 == nil })
        #expect(Array(padded.lossWeights.prefix(5)) == [0.5, 0.5, 0, 0, 0])
    }

    @Test func gatherLaysOutRowsAndLabels() throws {
        let padded = try PaddedRegions(regionCounts: [1, 3], padding: .masked)
        let rows = Tensor(shape: [4, 2], scalars: [1, 1, 2, 2, 3, 3, 4, 4])
        #expect(padded.gather(rows).scalars == [1, 1, 0, 0, 0, 0, 2, 2, 3, 3, 4, 4])
        #expect(padded.gather(labels: [7, 8, 9, 5]) == [7, 0, 0, 8, 9, 5])
        let repeated = try PaddedRegions(regionCounts: [1, 3])
        #expect(repeated.gather(rows).scalars == [1, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4])
    }

    @Test func emptyImagesAreRejected() {
        #expect(throws: TrainingError.badBatch("image 1 of the batch has 0 regions; every image needs at least one")) {
            try PaddedRegions(regionCounts: [2, 0])
        }
        #expect(throws: TrainingError.self) { try PaddedRegions(regionCounts: []) }
    }
}
