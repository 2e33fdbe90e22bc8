import Foundation
import Testing
import Layers
import Tensors

struct DropoutTests {
    @Test func masksKeepTheRightShareAndScale() throws {
        var generator = SplitMix64(seed: 61)
        let mask = try #require(Dropout(probability: 0.1).mask([400, 500], generator: &generator))
        let kept = mask.scalars.filter { $0 != 0 }
        #expect(Set(kept) == [1 / Float(0.9)])
        #expect(abs(Double(kept.count) / Double(mask.count) - 0.9) < 0.003)
        let before = generator
        #expect(Dropout.off.mask([3], generator: &generator) == nil && generator == before)
    }

    @Test func masksDoNotDependOnTheThreadCount() {
        let masks = [1, 2, 3].map { threads in
            Parallel.withThreads(threads) {
                var generator = SplitMix64(seed: 62)
                return Dropout(probability: 0.1).mask([300, 301], generator: &generator)
            }
        }
        #expect(masks[0] == masks[1] && masks[1] == masks[2])
    }

    @Test func aSavedGeneratorResumesTheSameMasks() throws {
        let dropout = Dropout(probability: 0.5)
        var generator = SplitMix64(seed: 63)
        _ = dropout.mask([7, 9], generator: &generator)
        let saved = try JSONEncoder().encode(generator)
        let next = dropout.mask([11], generator: &generator)
        var restored = try JSONDecoder().decode(SplitMix64.self, from: saved)
        #expect(dropout.mask([11], generator: &restored) == next)
        #expect(restored == generator)
        // The mask's draws are the generator's own sequence.
        var sequential = SplitMix64(seed: 64), ahead = sequential
        let draws = (0..<5).map { _ in sequential.next() }
        #expect((0..<5).map { ahead.peek(ahead: UInt64($0)) } == draws)
        ahead.skip(5)
        #expect(ahead == sequential)
    }
}
