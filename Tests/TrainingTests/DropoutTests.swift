import Foundation
import Testing
import Tensors
@testable import Training

struct DropoutTests {
    @Test func masksKeepTheRightShareAndScale() {
        var generator = SplitMix64(seed: 61)
        let mask = DropoutMask.make(shape: [400, 500], probability: 0.1, generator: &generator)
        let kept = mask.scalars.filter { $0 != 0 }
        #expect(Set(kept) == [1 / Float(0.9)])
        #expect(abs(Double(kept.count) / Double(mask.count) - 0.9) < 0.003)
    }

    @Test func masksDoNotDependOnTheThreadCount() {
        let masks = [1, 2, 3].map { threads in
            Parallel.withThreads(threads) {
                var generator = SplitMix64(seed: 62)
                return DropoutMask.make(shape: [300, 301], probability: 0.1, generator: &generator)
            }
        }
        #expect(masks[0] == masks[1] && masks[1] == masks[2])
    }

    @Test func aSavedGeneratorResumesTheSameMasks() throws {
        var generator = SplitMix64(seed: 63)
        _ = DropoutMask.make(shape: [7, 9], probability: 0.5, generator: &generator)
        let saved = try JSONEncoder().encode(generator)
        let next = DropoutMask.make(shape: [11], probability: 0.5, generator: &generator)
        var restored = try JSONDecoder().decode(SplitMix64.self, from: saved)
        #expect(DropoutMask.make(shape: [11], probability: 0.5, generator: &restored) == next)
        #expect(restored == generator)
        // The mask's draws are the generator's own sequence.
        var sequential = SplitMix64(seed: 64), ahead = sequential
        let draws = (0..<5).map { _ in sequential.next() }
        #expect((0..<5).map { ahead.peek(ahead: UInt64($0)) } == draws)
        ahead.skip(5)
        #expect(ahead == sequential)
    }
}
