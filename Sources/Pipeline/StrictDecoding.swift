import Foundation

/// Any key of a mapping, so that keys a type does not know can be found and refused.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { (self.stringValue, intValue) = (stringValue, nil) }
    init?(intValue: Int) { (stringValue, self.intValue) = ("\(intValue)", intValue) }
}

extension Decoder {
    /// Fails on the first key of this mapping that `Keys` does not list: configuration typos
    /// must not be ignored.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws {
        let known = Keys.allCases.map(\.stringValue)
        let keys = try container(keyedBy: AnyCodingKey.self).allKeys
        if let unknown = keys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [unknown],
                debugDescription: "unknown key; expected one of: \(known.joined(separator: ", "))"))
        }
    }
}

/// Decoders for the value kinds of configuration files, whose errors say what was expected and
/// what the file has instead.
extension KeyedDecodingContainer {
    /// A whole number of at least `minimum` (0 or 1).
    func integer(_ key: Key, atLeast minimum: Int) throws -> Int {
        guard let value = try? decode(Int.self, forKey: key), value >= minimum else {
            throw invalid(key, expected: minimum > 0 ? "a positive integer" : "a non-negative integer")
        }
        return value
    }

    /// A finite number.
    func number(_ key: Key) throws -> Double {
        guard let value = try? decode(Double.self, forKey: key), value.isFinite else { throw invalid(key, expected: "a number") }
        return value
    }

    /// A size in bytes: a whole number, or one with a unit ("512MiB", "2 GB").
    func byteCount(_ key: Key, atLeast minimum: Int) throws -> Int {
        let expected = "a size in bytes (a whole number, optionally followed by B, KB, MB, GB, KiB, MiB or GiB)"
        if let value = try? decode(Int.self, forKey: key) {
            guard value >= minimum else { throw invalid(key, expected: minimum > 0 ? "a positive size" : "a non-negative size") }
            return value
        }
        guard let text = try? decode(String.self, forKey: key), let value = parseByteCount(text) else {
            throw invalid(key, expected: expected)
        }
        guard value >= minimum else { throw invalid(key, expected: minimum > 0 ? "a positive size" : "a non-negative size") }
        return value
    }

    /// A ZeroMQ endpoint with one of `transports` ("tcp", "ipc", "inproc") and an address after it.
    func endpoint(_ key: Key, transports: [String]) throws -> String {
        let expected = "an endpoint such as \(transports.map { "\($0)://…" }.joined(separator: " or "))"
        guard let text = try? decode(String.self, forKey: key),
              let separator = text.range(of: "://"), transports.contains(String(text[..<separator.lowerBound])),
              !text[separator.upperBound...].isEmpty else {
            throw invalid(key, expected: expected)
        }
        return text
    }

    /// "host:port", with a port from 1 to 65535.
    func hostAndPort(_ key: Key) throws -> String {
        guard let text = try? decode(String.self, forKey: key), let colon = text.lastIndex(of: ":"),
              colon != text.startIndex, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw invalid(key, expected: "host:port, such as 127.0.0.1:9100")
        }
        return text
    }

    /// The error for a key whose value is not what was expected (or that is missing).
    func invalid(_ key: Key, expected: String) -> DecodingError {
        guard contains(key) else {
            return .keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return .dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: "expected \(expected), got \(found(key))"))
    }

    private func found(_ key: Key) -> String {
        if (try? decodeNil(forKey: key)) == true { return "nothing" }
        if let text = try? decode(String.self, forKey: key) { return "'\(text)'" }
        return "a mapping or a list"
    }
}

/// "512MiB" → 536870912; nil unless a whole number with an optional unit.
func parseByteCount(_ text: String) -> Int? {
    let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
                                  ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let (number, multiplier) = units.first { trimmed.hasSuffix($0.0) }
        .map { (trimmed.dropLast($0.0.count).trimmingCharacters(in: .whitespaces), $0.1) } ?? (trimmed, 1)
    guard let value = Int(number), value >= 0 else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : bytes
}
