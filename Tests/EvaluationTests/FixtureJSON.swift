import Foundation
import Tensors
@testable import Evaluation

let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Reads a fixture into Foundation-like values with numbers as correctly rounded doubles
/// (JSONSerialization on Linux can be off in the last bit, which the exact checks would see).
func readFixture(_ name: String) throws -> Any {
    let file = try MappedFile(path: name.hasPrefix("/") ? name : fixturesDirectory.appendingPathComponent(name).path)
    var s = file.scanner()
    return try tree(&s)
}

private func tree(_ s: inout JSONScanner) throws -> Any {
    switch try s.peekKind() {
    case .object:
        var object: [String: Any] = [:]
        try s.beginObject()
        var first = true
        while let key = try s.nextKey(&first) { object[try s.decode(key)] = try tree(&s) }
        return object
    case .array:
        var array: [Any] = []
        try s.beginArray()
        var first = true
        while try s.nextElement(&first) { array.append(try tree(&s)) }
        return array
    case .string: return try s.string()
    case .number: return try s.number()
    case .bool: return try s.truthy()
    case .null:
        _ = s.skipNull()
        return NSNull()
    }
}

func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { $0 as! Double } }
func int(_ value: Any?) -> Int { Int(value as! Double) }
