import Foundation

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`), then the data.
/// The header is validated on open (offsets in range, no overlaps, byte counts matching the
/// shapes); tensors are converted to Float32 only when asked for.
public struct SafeTensorsFile: Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public let dtype: TensorDType
        public let shape: [Int]
        /// Byte range inside the data section (after the header).
        public let dataOffsets: Range<Int>
    }

    public let url: URL
    /// Tensor names, sorted.
    public let names: [String]
    public let metadata: [String: String]
    private let infos: [String: TensorInfo]
    private let mapping: MappedFile
    private let dataStart: Int

    public init(url: URL) throws {
        let file = url.path
        mapping = try MappedFile(url: url)
        self.url = url
        let bytes = mapping.bytes
        guard bytes.count >= 8 else {
            throw TensorFileError.truncated(file: file, reason: "\(bytes.count) bytes, fewer than the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw TensorFileError.headerBeyondFile(file: file, headerLength: headerLength, fileSize: bytes.count)
        }
        dataStart = 8 + Int(headerLength)
        let header = Data(bytes: bytes.baseAddress! + 8, count: Int(headerLength))
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw TensorFileError.malformedHeader(file: file, reason: "header is not valid JSON")
        }
        guard let entries = parsed as? [String: Any] else {
            throw TensorFileError.malformedHeader(file: file, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var infos: [String: TensorInfo] = [:]
        let dataSize = bytes.count - dataStart
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let dictionary = value as? [String: Any] else {
                    throw TensorFileError.malformedHeader(file: file, reason: "__metadata__ is not an object")
                }
                for (key, item) in dictionary {
                    guard let text = item as? String else {
                        throw TensorFileError.malformedHeader(file: file, reason: "__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            infos[name] = try Self.parseInfo(value, name: name, file: file, dataSize: dataSize)
        }
        // Tensors may not share bytes: sort by start and compare neighbours.
        let ordered = infos.sorted { ($0.value.dataOffsets.lowerBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where next.value.dataOffsets.lowerBound < previous.value.dataOffsets.upperBound
            && !next.value.dataOffsets.isEmpty && !previous.value.dataOffsets.isEmpty {
            throw TensorFileError.overlappingData(file: file, tensor: next.key, other: previous.key)
        }
        self.metadata = metadata
        self.infos = infos
        names = infos.keys.sorted()
    }

    private static func parseInfo(_ value: Any, name: String, file: String, dataSize: Int) throws -> TensorInfo {
        guard let entry = value as? [String: Any] else {
            throw TensorFileError.malformedHeader(file: file, reason: "entry for tensor '\(name)' is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw TensorFileError.malformedHeader(file: file, reason: "tensor '\(name)' has no string 'dtype'")
        }
        guard let dtype = TensorDType(rawValue: dtypeName) else {
            throw TensorFileError.unknownDType(file: file, tensor: name, dtype: dtypeName)
        }
        guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorFileError.malformedHeader(file: file, reason: "tensor '\(name)' has no valid 'shape' list")
        }
        guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
            throw TensorFileError.malformedHeader(file: file, reason: "tensor '\(name)' has no valid 'data_offsets' pair")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw TensorFileError.offsetsOutOfRange(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        let (elements, overflow) = shape.reduce((1, false)) { partial, dim in
            let product = partial.0.multipliedReportingOverflow(by: dim)
            return (product.partialValue, partial.1 || product.overflow)
        }
        let (expected, overflowBytes) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, !overflowBytes, expected == end - begin else {
            throw TensorFileError.byteCountMismatch(file: file, tensor: name, shape: shape, dtype: dtypeName,
                                                    expectedBytes: overflow || overflowBytes ? Int.max : expected,
                                                    actualBytes: end - begin)
        }
        return TensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// JSON numbers as exact non-fractional Ints, or nil.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in list {
            // JSON booleans also arrive as NSNumber, with the "c" (char) type code.
            guard let number = item as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), double >= -9.0e15, double <= 9.0e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    public func info(_ name: String) -> TensorInfo? { infos[name] }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The tensor converted to Float32.
    public func tensor(named name: String) throws -> Tensor {
        guard let info = infos[name] else { throw TensorFileError.missingTensor(file: url.path, key: name) }
        let source = mapping.bytes.baseAddress.map { UnsafeRawPointer($0) + dataStart + info.dataOffsets.lowerBound }
        return Tensor(shape: info.shape) { buffer in
            if let source, buffer.count > 0 { info.dtype.convert(source, count: buffer.count, to: buffer.baseAddress!) }
        }
    }

    /// The stored bytes of a tensor, unconverted (valid while this file value is alive).
    public func withRawBytes<R>(named name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let info = infos[name] else { throw TensorFileError.missingTensor(file: url.path, key: name) }
        let base = mapping.bytes.baseAddress.map { UnsafeRawPointer($0) + dataStart + info.dataOffsets.lowerBound }
        return try body(UnsafeRawBufferPointer(start: base, count: info.dataOffsets.count))
    }

    /// Every tensor converted to Float32.
    public func tensors() throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in names { result[name] = try tensor(named: name) }
        return result
    }
}

/// Writing safetensors files the Python `safetensors` library reads and would itself write:
/// tensors ordered by dtype size then name, header padded with spaces to 8 bytes.
public enum SafeTensors {
    /// A tensor's stored form: dtype, shape and little-endian bytes.
    public struct RawTensor: Sendable {
        public let dtype: TensorDType
        public let shape: [Int]
        public let bytes: [UInt8]

        public init(dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
            precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "RawTensor: \(bytes.count) bytes for \(shape) of \(dtype)")
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// `tensor` encoded as F32, F16 or BF16 (rounding to nearest even).
        public init(_ tensor: Tensor, as dtype: TensorDType = .f32) {
            precondition([.f32, .f16, .bf16].contains(dtype), "RawTensor: cannot encode Float as \(dtype)")
            var bytes = [UInt8](repeating: 0, count: tensor.count * dtype.byteSize)
            bytes.withUnsafeMutableBytes { out in
                tensor.withUnsafeBufferPointer { values in
                    switch dtype {
                    case .f32:
                        if values.count > 0 { memcpy(out.baseAddress!, values.baseAddress!, values.count * 4) }
                    case .f16:
                        for (i, v) in values.enumerated() { out.storeBytes(of: Half.fromFloat(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                    default:
                        for (i, v) in values.enumerated() { out.storeBytes(of: Half.bfloat16(from: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                    }
                }
            }
            self.init(dtype: dtype, shape: tensor.shape, bytes: bytes)
        }
    }

    /// Writes Float tensors, stored as `dtype` (F32, F16 or BF16).
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL,
                             dtype: TensorDType = .f32) throws {
        try write(raw: tensors.mapValues { RawTensor($0, as: dtype) }, metadata: metadata, to: url)
    }

    public static func write(raw tensors: [String: RawTensor], metadata: [String: String] = [:], to url: URL) throws {
        // Same order as safetensors' Rust `prepare`: larger dtypes first, then by name.
        let ordered = tensors.sorted { lhs, rhs in
            let (l, r) = (rank(lhs.value.dtype), rank(rhs.value.dtype))
            return l != r ? l > r : lhs.key < rhs.key
        }
        var header = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in ordered {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonQuoted(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        // Streamed to the file (no second copy of the weights in memory), atomically.
        try AtomicFile.write(to: url) { handle in
            try handle.write(contentsOf: withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Data($0) } + headerBytes)
            for (_, tensor) in ordered where !tensor.bytes.isEmpty {
                try tensor.bytes.withUnsafeBytes { try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!), count: $0.count, deallocator: .none)) }
            }
        }
    }

    /// safetensors' `Dtype` declaration order (its derived `Ord`).
    private static func rank(_ dtype: TensorDType) -> Int {
        let order: [TensorDType] = [.bool, .u8, .i8, .i16, .u16, .f16, .bf16, .i32, .u32, .f32, .f64, .i64, .u64]
        return order.firstIndex(of: dtype)!
    }

}
