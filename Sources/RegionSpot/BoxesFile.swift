import Foundation
import Imaging

/// The boxes of a predict request, read from JSON in any of these forms (x0, y0, x1, y1 in pixels
/// of the original image; scores optional, from a detector):
///   `[[x0, y0, x1, y1], ...]`
///   `{"boxes": [[...], ...], "scores": [s, ...]}`
///   `[{"box": [x0, y0, x1, y1], "score": s}, ...]`   (or `"bbox"`)
/// The object form may also carry `"vocabulary": ["name", ...]`, which overrides the one given on
/// the command line (watch mode's sidecars).
public struct BoxesFile: Sendable, Equatable {
    public var boxes: [Box]
    public var scores: [Float]?
    public var vocabulary: [String]?

    public init(boxes: [Box], scores: [Float]? = nil, vocabulary: [String]? = nil) {
        self.boxes = boxes
        self.scores = scores
        self.vocabulary = vocabulary
    }

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InputError(file: url.path, location: nil, reason: "cannot read: \(error.localizedDescription)")
        }
        try self.init(json: data, source: url.path)
    }

    public init(json data: Data, source: String) throws {
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw InputError(file: source, location: nil, reason: "not valid JSON (\(error.localizedDescription))")
        }
        func fail(_ location: String?, _ reason: String) -> InputError { InputError(file: source, location: location, reason: reason) }
        func box(_ value: Any, at location: String) throws -> Box {
            guard let array = value as? [Any], array.count == 4 else {
                throw fail(location, "expected a box [x0, y0, x1, y1], got \(Self.describe(value))")
            }
            let corners: [Float] = try array.enumerated().map { i, element in
                guard let number = element as? NSNumber, number.doubleValue.isFinite else {
                    throw fail("\(location)[\(i)]", "expected a finite number, got \(Self.describe(element))")
                }
                return number.floatValue
            }
            return Box(corners)!
        }
        func score(_ value: Any, at location: String) throws -> Float {
            guard let number = value as? NSNumber, number.doubleValue.isFinite else {
                throw fail(location, "expected a finite number, got \(Self.describe(value))")
            }
            return number.floatValue
        }

        if let object = root as? [String: Any] {
            guard let list = object["boxes"] as? [Any] else { throw fail("boxes", "missing or not an array") }
            boxes = try list.enumerated().map { try box($1, at: "boxes[\($0)]") }
            if let rawScores = object["scores"] {
                guard let list = rawScores as? [Any] else { throw fail("scores", "not an array") }
                guard list.count == boxes.count else { throw fail("scores", "\(list.count) scores for \(boxes.count) boxes") }
                scores = try list.enumerated().map { try score($1, at: "scores[\($0)]") }
            } else {
                scores = nil
            }
            if let rawVocabulary = object["vocabulary"] {
                guard let names = rawVocabulary as? [Any], names.allSatisfy({ $0 is String }) else {
                    throw fail("vocabulary", "expected an array of class names, got \(Self.describe(rawVocabulary))")
                }
                vocabulary = try VocabularyInput.validate(names as! [String], source: "\(source): vocabulary")
            }
        } else if let list = root as? [Any] {
            if list.allSatisfy({ $0 is [String: Any] }), !list.isEmpty {
                var parsedScores: [Float] = []
                boxes = try list.enumerated().map { index, element in
                    let record = element as! [String: Any]
                    let key = record["box"] != nil ? "box" : "bbox"
                    guard let value = record[key] else { throw fail("[\(index)]", "record has no \"box\" (or \"bbox\")") }
                    if let s = record["score"] { parsedScores.append(try score(s, at: "[\(index)].score")) }
                    return try box(value, at: "[\(index)].\(key)")
                }
                guard parsedScores.isEmpty || parsedScores.count == boxes.count else {
                    throw fail(nil, "\(parsedScores.count) of \(boxes.count) records have a \"score\": give all or none")
                }
                scores = parsedScores.isEmpty ? nil : parsedScores
            } else {
                boxes = try list.enumerated().map { try box($1, at: "[\($0)]") }
                scores = nil
            }
        } else {
            throw fail(nil, "expected an array of boxes or an object with \"boxes\"")
        }
        for (index, b) in boxes.enumerated() where b.x0 > b.x1 || b.y0 > b.y1 {
            throw fail(root is [String: Any] ? "boxes[\(index)]" : "[\(index)]", "box \(b) has x0 > x1 or y0 > y1 (expected x0, y0, x1, y1)")
        }
    }

    static func describe(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]),
           let text = String(data: data, encoding: .utf8) {
            return text.count > 60 ? String(text.prefix(60)) + "…" : text
        }
        return "\(value)"
    }
}

/// Class names for a request: comma-separated on the command line, or one per line in a file.
public enum VocabularyInput {
    public static func parse(commaSeparated text: String) throws -> [String] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        return try validate(names, source: "--vocab")
    }

    /// One class per line; blank lines and lines starting with `#` are skipped.
    public static func read(_ url: URL) throws -> [String] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw InputError(file: url.path, location: nil, reason: "cannot read as UTF-8 text: \(error.localizedDescription)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var names: [String] = []
        for line in lines where !line.isEmpty && !line.hasPrefix("#") { names.append(line) }
        return try validate(names, source: url.path)
    }

    static func validate(_ names: [String], source: String) throws -> [String] {
        if let empty = names.firstIndex(of: "") {
            throw InputError(file: source, location: "name \(empty + 1)", reason: "empty class name")
        }
        guard !names.isEmpty else { throw InputError(file: source, location: nil, reason: "no class names") }
        var seen: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            if let first = seen[name] {
                throw InputError(file: source, location: "name \(index + 1)", reason: "\"\(name)\" repeats name \(first + 1)")
            }
            seen[name] = index
        }
        return names
    }
}

/// Bad request input, naming the file (or option) and where in it.
public struct InputError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var location: String?
    public var reason: String

    public var description: String {
        "\(file)\(location.map { ": \($0)" } ?? ""): \(reason)"
    }
}
