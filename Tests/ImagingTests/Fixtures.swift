import Foundation
import Imaging

/// Fixtures written by Tools/make_image_fixtures.py.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func data(_ path: String) -> Data {
        do {
            return try Data(contentsOf: directory.appendingPathComponent(path))
        } catch {
            fatalError("missing fixture \(path): rerun Tools/make_image_fixtures.py (\(error))")
        }
    }

    static func json<T: Decodable>(_ name: String, as type: T.Type) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data(name))
        } catch {
            fatalError("cannot parse fixture \(name): \(error)")
        }
    }

    static func bytes(_ path: String) -> [UInt8] { [UInt8](data(path)) }
}

/// The fixture script's procedural test images (`pattern` in Tools/make_image_fixtures.py).
struct PatternSpec: Codable, Sendable, CustomStringConvertible {
    var width: Int
    var height: Int
    var kind: String
    var seed: Int

    var description: String { "\(kind)\(seed) \(width)x\(height)" }

    func image() -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let seedTerm = UInt32(truncatingIfNeeded: seed) &* 2_654_435_761
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    var h = (UInt32(truncatingIfNeeded: x) &* 73_856_093) ^ (UInt32(truncatingIfNeeded: y) &* 19_349_663)
                        ^ (UInt32(c) &* 83_492_791) ^ seedTerm
                    h = (h ^ (h >> 13)) &* 1_274_126_177
                    h ^= h >> 16
                    let value: Int
                    switch kind {
                    case "noise":
                        value = Int(h & 255)
                    case "gradient":
                        value = ((x * 255 / max(width - 1, 1)) * (c + 1) + (y * 255 / max(height - 1, 1)) * (3 - c)) / 4
                    case "mixed":
                        let ramp = (x * 3 + y * 2 + c * 40) & 255
                        let edge = ((x / 7) + (y / 5)) % 2 == 0 ? 0 : 96
                        value = min(max(ramp / 2 + edge + Int(h & 63) - 32, 0), 255)
                    default:
                        fatalError("unknown pattern \(kind)")
                    }
                    pixels[(y * width + x) * 3 + c] = UInt8(value)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

/// FNV-1a, 64-bit: how the fixtures record large expected images.
func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// How two byte images differ: count of differing bytes and the largest difference.
func difference(_ a: [UInt8], _ b: [UInt8]) -> (count: Int, max: Int) {
    precondition(a.count == b.count)
    var count = 0, largest = 0
    for i in a.indices where a[i] != b[i] {
        count += 1
        largest = max(largest, abs(Int(a[i]) - Int(b[i])))
    }
    return (count, largest)
}
