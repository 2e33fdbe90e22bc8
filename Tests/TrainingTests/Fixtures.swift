import Foundation
import Testing
import Tensors

/// Files written by Tools/make_training_fixtures.py.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: directory.appendingPathComponent("\(name).safetensors"))
    }

    /// The script's settings (one JSON metadata entry).
    static func settings(_ file: SafeTensorsFile) throws -> [String: Any] {
        let text = try #require(file.metadata["settings"], "\(file.url.lastPathComponent) has no settings")
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func integers(_ file: SafeTensorsFile, _ name: String) throws -> [Int] {
        try file.tensor(named: name).scalars.map { Int($0) }
    }
}

/// Largest |a − b| over all elements.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Largest |actual − expected| / max(|expected|, floor).
func maxRelativeError(_ actual: [Float], _ expected: [Double], floor: Double) -> Double {
    precondition(actual.count == expected.count, "compared arrays differ in length: \(actual.count) vs \(expected.count)")
    return zip(actual, expected).reduce(0) { max($0, abs(Double($1.0) - $1.1) / max(abs($1.1), floor)) }
}

/// d f / d x_i by central differences in Double, for every i.
func centralDifferences(_ x: [Double], step: Double, _ f: ([Double]) -> Double) -> [Double] {
    x.indices.map { i in
        var plus = x, minus = x
        plus[i] += step
        minus[i] -= step
        return (f(plus) - f(minus)) / (2 * step)
    }
}
