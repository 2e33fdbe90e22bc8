import Foundation

/// How often each training category is drawn: expected object counts fall off log-linearly
/// from the most to the least frequent category (in a seeded order), so per-category training
/// image counts span LVIS's rare (1–10), common (11–100) and frequent (> 100) groups.
struct LongTail: Sendable {
    /// The rarest category's expected number of objects (on top of the one every category is given).
    static let rarestExpected = 2.0

    /// Cumulative draw weights over `order`'s categories, for `draw`.
    private let cumulative: [Double]
    /// Training category indices (into the catalogue) from most to least frequent.
    let order: [Int]

    /// `objects` is how many objects all training scenes hold in expectation.
    init(trainingCategories: [Int], objects: Double, seed: UInt64) {
        var random = SplitMix64(seed: seed, stream: 0x7A11)
        order = random.shuffled(trainingCategories)
        let n = order.count
        let mean = objects / Double(max(n, 1))
        // Expected counts rarest · ratio^(1 − rank/(n−1)); the ratio is found so they sum to `objects`.
        func total(_ ratio: Double) -> Double {
            (0..<n).reduce(0) { $0 + Self.rarestExpected * pow(ratio, 1 - Double($1) / Double(max(n - 1, 1))) }
        }
        var ratio = 1.0
        if mean > Self.rarestExpected && n > 1 {
            var (low, high) = (1.0, 1e12)
            for _ in 0..<200 {
                let middle = (low * high).squareRoot()
                if total(middle) < objects { low = middle } else { high = middle }
            }
            ratio = low
        }
        var running = 0.0
        cumulative = (0..<n).map { rank in
            running += pow(ratio, 1 - Double(rank) / Double(max(n - 1, 1)))
            return running
        }
    }

    /// One category index, drawn by weight.
    func draw(_ random: inout SplitMix64) -> Int {
        let target = random.unit() * cumulative[cumulative.count - 1]
        var (low, high) = (0, cumulative.count - 1)
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > target { high = middle } else { low = middle + 1 }
        }
        return order[low]
    }
}
