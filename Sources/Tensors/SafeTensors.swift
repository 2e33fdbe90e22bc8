import Foundation

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`), then the data.
/// The header is validated on open (`SafeTensors.Header`); tensors are converted to Float32
/// only when asked for.
public struct SafeTensorsFile: Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public let dtype: TensorDType
        public let shape: [Int]
        /// Byte range inside the data section (after the header).
        public let dataOffsets: Range<Int>
    }

    public let url: URL
    /// Tensor names, sorted.
    public var names: [String] { header.names }
    public var metadata: [String: String] { header.metadata }
    private let header: SafeTensors.Header
    private let mapping: MappedFile

    public init(url: URL) throws {
        mapping = try MappedFile(url: url)
        self.url = url
        header = try SafeTensors.Header(parsing: mapping.bytes, source: url.path)
    }

    public func info(_ name: String) -> TensorInfo? { header.infos[name] }

    public func contains(_ name: String) -> Bool { header.infos[name] != nil }

    /// The tensor converted to Float32.
    public func tensor(named name: String) throws -> Tensor {
        try header.tensor(named: name, in: mapping.bytes)
    }

    /// The stored bytes of a tensor, unconverted (valid while this file value is alive).
    public func withRawBytes<R>(named name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try body(header.rawBytes(named: name, in: mapping.bytes))
    }

    /// Every tensor converted to Float32.
    public func tensors() throws -> [String: Tensor] { try header.tensors(in: mapping.bytes) }
}

/// Writing safetensors files the Python `safetensors` library reads and would itself write:
/// tensors ordered by dtype size then name, header padded with spaces to 8 bytes. The same
/// bytes can be encoded to and decoded from `Data`, so messages carry tensors in this format.
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
        let (header, ordered) = layout(tensors, metadata: metadata)
        // Streamed to the file (no second copy of the weights in memory), atomically.
        try AtomicFile.write(to: url) { handle in
            try handle.write(contentsOf: header)
            for (_, tensor) in ordered where !tensor.bytes.isEmpty {
                try tensor.bytes.withUnsafeBytes { try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!), count: $0.count, deallocator: .none)) }
            }
        }
    }

    /// The bytes `write` would put in a file, for messages: Float tensors stored as `dtype`
    /// (F16 halves an embedding's size in transport; `decode` widens it back to Float32).
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:], dtype: TensorDType = .f32) -> Data {
        encode(raw: tensors.mapValues { RawTensor($0, as: dtype) }, metadata: metadata)
    }

    public static func encode(raw tensors: [String: RawTensor], metadata: [String: String] = [:]) -> Data {
        let (header, ordered) = layout(tensors, metadata: metadata)
        var data = Data(capacity: header.count + ordered.reduce(0) { $0 + $1.value.bytes.count })
        data.append(header)
        for (_, tensor) in ordered { data.append(contentsOf: tensor.bytes) }
        return data
    }

    /// Tensors (as Float32) and metadata decoded from safetensors bytes.
    public struct Decoded: Sendable, Equatable {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
    }

    /// Decodes safetensors bytes, validated as a file's are; errors name `source` (what the
    /// bytes are, e.g. the message they came in), the tensor and the field.
    public static func decode(_ data: Data, source: String = "safetensors bytes") throws -> Decoded {
        try data.withUnsafeBytes { bytes in
            let header = try Header(parsing: bytes, source: source)
            return Decoded(tensors: try header.tensors(in: bytes), metadata: header.metadata)
        }
    }

    /// The shape of tensor `name` in safetensors bytes, read from the validated header alone (no
    /// tensor is converted); nil when there is no such tensor. Errors name `source`, as `decode`'s do.
    public static func shape(of name: String, in data: Data, source: String = "safetensors bytes") throws -> [Int]? {
        try data.withUnsafeBytes { try Header(parsing: $0, source: source).infos[name]?.shape }
    }

    /// The 8-byte length and JSON header, and the tensors in the order their data follows:
    /// safetensors' Rust `prepare` order, larger dtypes first, then by name.
    private static func layout(_ tensors: [String: RawTensor], metadata: [String: String])
        -> (header: Data, ordered: [(key: String, value: RawTensor)]) {
        let ordered = tensors.sorted { lhs, rhs in
            let (l, r) = (rank(lhs.value.dtype), rank(rhs.value.dtype))
            return l != r ? l > r : lhs.key < rhs.key
        }
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
        var headerBytes = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
        return (withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Data($0) } + headerBytes, ordered)
    }

    /// safetensors' `Dtype` declaration order (its derived `Ord`).
    private static func rank(_ dtype: TensorDType) -> Int {
        let order: [TensorDType] = [.bool, .u8, .i8, .i16, .u16, .f16, .bf16, .i32, .u32, .f32, .f64, .i64, .u64]
        return order.firstIndex(of: dtype)!
    }
}
