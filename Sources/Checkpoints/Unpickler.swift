import Foundation
import Tensors

/// A value decoded from a pickle. Dicts, lists and objects are classes because pickles fill
/// them after they are memoized (EMPTY_DICT, BINPUT, … SETITEMS) and may share them.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for Int (kept only to be ignored).
    case bigInt
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A reference to an allowed class or function, as `module.name`.
    case global(String)
    /// An instance of a TorchScript class (`__torch__.…`): a plain attribute container.
    case object(PickleObject)
    case storage(TorchStorage)
    case tensor(TorchTensor)
    /// Harmless data we do not interpret (numpy scalars, devices, …).
    case opaque(String)
}

final class PickleList { var items: [PickleValue] = [] }

final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)] = []
}

final class PickleObject {
    let className: String
    var state: PickleValue = .none
    init(className: String) { self.className = className }
}

/// A storage as a persistent id names it: dtype, the archive record holding its bytes,
/// and its length in elements.
final class TorchStorage {
    let dtype: TensorDType
    let key: String
    let count: Int
    init(dtype: TensorDType, key: String, count: Int) {
        self.dtype = dtype
        self.key = key
        self.count = count
    }
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
struct TorchTensor {
    let storage: TorchStorage
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// A restricted unpickler: it understands the opcodes `torch.save` and `torch.jit.save` emit
/// and resolves only an allowlist of globals (containers, tensor rebuild functions, storage
/// types, TorchScript classes as attribute bags). Nothing is ever called or imported: the
/// allowed functions are interpreted here, and any other global stops the load.
struct Unpickler {
    /// Turns a BINPERSID tuple into a storage (or fails).
    typealias PersistentLoad = (PickleValue) throws -> PickleValue

    private let bytes: UnsafeRawBufferPointer
    private let file: String
    private let persistentLoad: PersistentLoad
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(bytes: UnsafeRawBufferPointer, file: String, persistentLoad: @escaping PersistentLoad) {
        self.bytes = bytes
        self.file = file
        self.persistentLoad = persistentLoad
    }

    /// Byte offset just past the STOP opcode (legacy files hold several pickles back to back).
    var endOffset: Int { position }

    mutating func load() throws -> PickleValue {
        while true {
            let opcodeOffset = position
            let opcode = try readByte()
            switch opcode {
            case 0x80: _ = try readByte()                                    // PROTO
            case 0x95: _ = try readInteger(8)                                // FRAME
            case 0x2E:                                                       // STOP
                guard let result = stack.popLast() else { throw malformed("STOP with an empty stack", at: opcodeOffset) }
                return result
            case 0x28: marks.append(stack.count)                             // MARK
            case 0x4E: stack.append(.none)                                   // NONE
            case 0x88: stack.append(.bool(true))                             // NEWTRUE
            case 0x89: stack.append(.bool(false))                            // NEWFALSE
            case 0x4B: stack.append(.int(try readInteger(1)))                // BININT1
            case 0x4D: stack.append(.int(try readInteger(2)))                // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try readInteger(4)))))  // BININT
            case 0x8A: stack.append(try readLong(length: try readInteger(1)))                 // LONG1
            case 0x8B: stack.append(try readLong(length: try readInteger(4)))                 // LONG4
            case 0x49: stack.append(try textInteger(try readLine()))        // INT
            case 0x4C:                                                       // LONG ("123L")
                let text = try readLine()
                stack.append(try textInteger(text.hasSuffix("L") ? String(text.dropLast()) : text))
            case 0x47:                                                       // BINFLOAT (big-endian)
                stack.append(.float(Double(bitPattern: UInt64(bigEndian: try readRaw(8).loadUnaligned(as: UInt64.self)))))
            case 0x58: stack.append(.string(try readString(try readInteger(4))))   // BINUNICODE
            case 0x8C: stack.append(.string(try readString(try readInteger(1))))   // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try readString(try readInteger(8))))   // BINUNICODE8
            case 0x54: stack.append(.string(try readLatin1(try readInteger(4))))   // BINSTRING
            case 0x55: stack.append(.string(try readLatin1(try readInteger(1))))   // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try readRaw(try readInteger(4)))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try readRaw(try readInteger(1)))))  // SHORT_BINBYTES
            case 0x8E, 0x96: stack.append(.bytes(Array(try readRaw(try readInteger(8)))))  // BINBYTES8, BYTEARRAY8
            case 0x7D: stack.append(.dict(PickleDict()))                    // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                    // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                              // EMPTY_TUPLE
            case 0x8F: stack.append(.list(PickleList()))                    // EMPTY_SET (as a list)
            case 0x74: stack.append(.tuple(try popMark(at: opcodeOffset)))   // TUPLE
            case 0x85: stack.append(.tuple(try pop(1, at: opcodeOffset)))    // TUPLE1
            case 0x86: stack.append(.tuple(try pop(2, at: opcodeOffset)))    // TUPLE2
            case 0x87: stack.append(.tuple(try pop(3, at: opcodeOffset)))    // TUPLE3
            case 0x6C:                                                       // LIST
                let list = PickleList()
                list.items = try popMark(at: opcodeOffset)
                stack.append(.list(list))
            case 0x64:                                                       // DICT
                let dict = PickleDict()
                try addPairs(try popMark(at: opcodeOffset), to: dict, at: opcodeOffset)
                stack.append(.dict(dict))
            case 0x61:                                                       // APPEND
                let item = try pop(1, at: opcodeOffset)[0]
                try append([item], at: opcodeOffset)
            case 0x65, 0x90:                                                 // APPENDS, ADDITEMS
                // Pop first: `append` reads `stack`, and a call captures self before its arguments.
                let items = try popMark(at: opcodeOffset)
                try append(items, at: opcodeOffset)
            case 0x91: stack.append(.tuple(try popMark(at: opcodeOffset)))   // FROZENSET
            case 0x73:                                                       // SETITEM
                let pair = try pop(2, at: opcodeOffset)
                guard case let .dict(dict)? = stack.last else { throw malformed("SETITEM on a non-dict", at: opcodeOffset) }
                try addPairs(pair, to: dict, at: opcodeOffset)
            case 0x75:                                                       // SETITEMS
                let items = try popMark(at: opcodeOffset)
                guard case let .dict(dict)? = stack.last else { throw malformed("SETITEMS on a non-dict", at: opcodeOffset) }
                try addPairs(items, to: dict, at: opcodeOffset)
            case 0x94: memo[memo.count] = try top(at: opcodeOffset)         // MEMOIZE
            case 0x71: memo[try readInteger(1)] = try top(at: opcodeOffset) // BINPUT
            case 0x72: memo[try readInteger(4)] = try top(at: opcodeOffset) // LONG_BINPUT
            case 0x70:                                                       // PUT
                guard let index = Int(try readLine()) else { throw malformed("PUT index is not an integer", at: opcodeOffset) }
                memo[index] = try top(at: opcodeOffset)
            case 0x68: stack.append(try memoValue(try readInteger(1), at: opcodeOffset))  // BINGET
            case 0x6A: stack.append(try memoValue(try readInteger(4), at: opcodeOffset))  // LONG_BINGET
            case 0x67:                                                       // GET
                guard let index = Int(try readLine()) else { throw malformed("GET index is not an integer", at: opcodeOffset) }
                stack.append(try memoValue(index, at: opcodeOffset))
            case 0x32: stack.append(try top(at: opcodeOffset))              // DUP
            case 0x30: _ = try pop(1, at: opcodeOffset)                      // POP
            case 0x31: _ = try popMark(at: opcodeOffset)                     // POP_MARK
            case 0x63:                                                       // GLOBAL
                let module = try readLine()
                let name = try readLine()
                stack.append(try resolveGlobal(module, name))
            case 0x93:                                                       // STACK_GLOBAL
                let pair = try pop(2, at: opcodeOffset)
                guard case let .string(module) = pair[0], case let .string(name) = pair[1] else {
                    throw malformed("STACK_GLOBAL needs two strings", at: opcodeOffset)
                }
                stack.append(try resolveGlobal(module, name))
            case 0x51:                                                       // BINPERSID
                stack.append(try persistentLoad(try pop(1, at: opcodeOffset)[0]))
            case 0x52:                                                       // REDUCE
                let pair = try pop(2, at: opcodeOffset)
                guard case let .tuple(arguments) = pair[1] else { throw malformed("REDUCE arguments are not a tuple", at: opcodeOffset) }
                stack.append(try call(pair[0], arguments, at: opcodeOffset))
            case 0x81:                                                       // NEWOBJ
                let pair = try pop(2, at: opcodeOffset)
                guard case let .tuple(arguments) = pair[1] else { throw malformed("NEWOBJ arguments are not a tuple", at: opcodeOffset) }
                stack.append(try call(pair[0], arguments, at: opcodeOffset))
            case 0x92:                                                       // NEWOBJ_EX
                let triple = try pop(3, at: opcodeOffset)
                guard case let .tuple(arguments) = triple[1] else { throw malformed("NEWOBJ_EX arguments are not a tuple", at: opcodeOffset) }
                stack.append(try call(triple[0], arguments, at: opcodeOffset))
            case 0x62:                                                       // BUILD
                let state = try pop(1, at: opcodeOffset)[0]
                // Only attribute containers keep their state; OrderedDict `_metadata` and
                // tensor hooks are irrelevant to the weights.
                if case let .object(object) = try top(at: opcodeOffset) { object.state = state }
            default:
                throw malformed(String(format: "unsupported opcode 0x%02x", opcode), at: opcodeOffset)
            }
        }
    }

    // MARK: - Globals and calls

    /// Globals the loader understands. Everything else is refused before it could matter.
    private func resolveGlobal(_ module: String, _ name: String) throws -> PickleValue {
        let qualified = "\(module).\(name)"
        if module == "__torch__" || module.hasPrefix("__torch__.") { return .global(qualified) }
        // Storage classes are only type tags; unsupported ones fail when a tensor uses them.
        if module == "torch", name.hasSuffix("Storage") { return .global(qualified) }
        if Self.allowed.contains(qualified) { return .global(qualified) }
        throw CheckpointError.forbiddenGlobal(file: file, global: qualified)
    }

    private static let allowed: Set<String> = [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2",
        "torch.Tensor", "torch.nn.parameter.Parameter", "torch.Size", "torch.device",
        "torch.storage.UntypedStorage",
        "torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_genericlist",
        "_codecs.encode",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
    ]

    /// Interprets an allowed callable; nothing is executed.
    private func call(_ callable: PickleValue, _ arguments: [PickleValue], at offset: Int) throws -> PickleValue {
        guard case let .global(name) = callable else { throw malformed("call of a non-global", at: offset) }
        if name.hasPrefix("__torch__") {
            return .object(PickleObject(className: name))
        }
        switch name {
        case "collections.OrderedDict":
            let dict = PickleDict()
            if case let .list(pairs)? = arguments.first {
                for pair in pairs.items {
                    guard case let .tuple(kv) = pair, kv.count == 2 else { throw malformed("OrderedDict item is not a pair", at: offset) }
                    dict.items.append((kv[0], kv[1]))
                }
            }
            return .dict(dict)
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
            guard arguments.count >= 4, case let .storage(storage) = arguments[0], case let .int(storageOffset) = arguments[1],
                  let shape = integers(arguments[2]), let strides = integers(arguments[3]), shape.count == strides.count else {
                throw malformed("\(name) arguments are not (storage, offset, size, stride, …)", at: offset)
            }
            return .tensor(TorchTensor(storage: storage, offset: storageOffset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
             "torch.jit._pickle.restore_type_tag":
            guard let first = arguments.first else { throw malformed("\(name) without arguments", at: offset) }
            return first
        case "torch._tensor._rebuild_from_type_v2":
            guard arguments.count >= 3, case let .tuple(inner) = arguments[2] else {
                throw malformed("_rebuild_from_type_v2 arguments are not (func, type, args, state)", at: offset)
            }
            return try call(arguments[0], inner, at: offset)
        case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.build_doublelist",
             "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_genericlist", "torch.Size":
            return arguments.first ?? .tuple([])
        case "_codecs.encode":
            guard case let .string(text)? = arguments.first else { throw malformed("_codecs.encode of a non-string", at: offset) }
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        default:
            // Storage classes, torch.device, numpy scalars: data we carry but do not read.
            return .opaque(name)
        }
    }

    private func integers(_ value: PickleValue) -> [Int]? {
        guard case let .tuple(items) = value else { return nil }
        var result: [Int] = []
        for item in items {
            guard case let .int(v) = item else { return nil }
            result.append(v)
        }
        return result
    }

    // MARK: - Stack

    private mutating func pop(_ count: Int, at offset: Int) throws -> [PickleValue] {
        guard stack.count - count >= (marks.last ?? 0) else { throw malformed("stack underflow", at: offset) }
        let items = Array(stack.suffix(count))
        stack.removeLast(count)
        return items
    }

    private mutating func popMark(at offset: Int) throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw malformed("no MARK on the stack", at: offset) }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func top(at offset: Int) throws -> PickleValue {
        guard let value = stack.last else { throw malformed("empty stack", at: offset) }
        return value
    }

    private func memoValue(_ index: Int, at offset: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw malformed("memo \(index) was never stored", at: offset) }
        return value
    }

    private func append(_ items: [PickleValue], at offset: Int) throws {
        guard case let .list(list)? = stack.last else { throw malformed("APPEND to a non-list", at: offset) }
        list.items.append(contentsOf: items)
    }

    private func addPairs(_ items: [PickleValue], to dict: PickleDict, at offset: Int) throws {
        guard items.count % 2 == 0 else { throw malformed("odd number of dict items", at: offset) }
        for i in stride(from: 0, to: items.count, by: 2) { dict.items.append((items[i], items[i + 1])) }
    }

    // MARK: - Reading bytes

    private func malformed(_ reason: String, at offset: Int) -> CheckpointError {
        .malformedPickle(file: file, offset: offset, reason: reason)
    }

    private mutating func readRaw(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw malformed("needs \(count) more bytes, \(bytes.count - position) left", at: position)
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    private mutating func readByte() throws -> UInt8 { try readRaw(1)[0] }

    /// An unsigned little-endian integer of `count` bytes.
    private mutating func readInteger(_ count: Int) throws -> Int {
        let raw = try readRaw(count)
        var value: UInt64 = 0
        for (i, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        guard value <= UInt64(Int.max) else { throw malformed("length \(value) is too large", at: position - count) }
        return Int(value)
    }

    /// A little-endian two's-complement integer of `length` bytes.
    private mutating func readLong(length: Int) throws -> PickleValue {
        let raw = try readRaw(length)
        guard length > 0 else { return .int(0) }
        if length > 8 {
            // Fits only if the extra bytes are pure sign extension.
            let sign: UInt8 = raw[7] & 0x80 != 0 ? 0xFF : 0
            guard raw[8...].allSatisfy({ $0 == sign }) else { return .bigInt }
        }
        var value: UInt64 = 0
        for i in 0..<min(length, 8) { value |= UInt64(raw[i]) << (8 * UInt64(i)) }
        if length < 8, raw[length - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(length)) }
        return .int(Int(Int64(bitPattern: value)))
    }

    private func textInteger(_ text: String) throws -> PickleValue {
        switch text {
        case "01": return .bool(true)
        case "00": return .bool(false)
        default:
            guard let value = Int(text) else { return .bigInt }
            return .int(value)
        }
    }

    private mutating func readString(_ count: Int) throws -> String {
        let raw = try readRaw(count)
        guard let text = String(bytes: raw, encoding: .utf8) else { throw malformed("string is not UTF-8", at: position - count) }
        return text
    }

    private mutating func readLatin1(_ count: Int) throws -> String {
        String(decoding: try readRaw(count).map { UInt16($0) }, as: UTF16.self)
    }

    /// A newline-terminated ASCII argument (GLOBAL, INT, PUT, …).
    private mutating func readLine() throws -> String {
        let start = position
        while position < bytes.count, bytes[position] != 0x0A { position += 1 }
        guard position < bytes.count else { throw malformed("unterminated text argument", at: start) }
        defer { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }
}

/// PyTorch's legacy typed-storage class names.
enum StorageTypes {
    /// The storage a persistent id names, one object per key (views of one storage share it).
    static func storage(type: String, key: String, count: Int, file: String,
                        cache: inout [String: TorchStorage]) throws -> PickleValue {
        guard let dtype = dtype(String(type.dropFirst("torch.".count))) else {
            throw CheckpointError.unsupportedStorage(file: file, type: type)
        }
        if let storage = cache[key] { return .storage(storage) }
        let storage = TorchStorage(dtype: dtype, key: key, count: count)
        cache[key] = storage
        return .storage(storage)
    }

    static func dtype(_ name: String) -> TensorDType? {
        switch name {
        case "FloatStorage": return .f32
        case "HalfStorage": return .f16
        case "BFloat16Storage": return .bf16
        case "DoubleStorage": return .f64
        case "LongStorage": return .i64
        case "IntStorage": return .i32
        case "ShortStorage": return .i16
        case "CharStorage": return .i8
        case "ByteStorage": return .u8
        case "BoolStorage": return .bool
        default: return nil
        }
    }
}
