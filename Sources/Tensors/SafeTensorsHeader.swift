import Foundation

extension SafeTensors {
    /// The validated header of safetensors bytes, wherever they are (a mapped file, a message):
    /// offsets in range, no overlaps, byte counts matching the shapes. Errors name `source`
    /// (the file's path, or what the caller says the bytes are), the tensor and the field.
    struct Header: Sendable {
        let source: String
        let infos: [String: SafeTensorsFile.TensorInfo]
        /// Sorted.
        let names: [String]
        let metadata: [String: String]
        /// Where the data section starts: 8 + the header length.
        let dataStart: Int

        init(parsing bytes: UnsafeRawBufferPointer, source: String) throws {
            self.source = source
            guard bytes.count >= 8 else {
                throw TensorFileError.truncated(file: source, reason: "\(bytes.count) bytes, fewer than the 8-byte header length")
            }
            let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            guard headerLength <= UInt64(bytes.count - 8) else {
                throw TensorFileError.headerBeyondFile(file: source, headerLength: headerLength, fileSize: bytes.count)
            }
            dataStart = 8 + Int(headerLength)
            let header = Data(bytes: bytes.baseAddress! + 8, count: Int(headerLength))
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: header)
            } catch {
                throw TensorFileError.malformedHeader(file: source, reason: "header is not valid JSON")
            }
            guard let entries = parsed as? [String: Any] else {
                throw TensorFileError.malformedHeader(file: source, reason: "header is not a JSON object")
            }
            var metadata: [String: String] = [:]
            var infos: [String: SafeTensorsFile.TensorInfo] = [:]
            let dataSize = bytes.count - dataStart
            for (name, value) in entries {
                if name == "__metadata__" {
                    guard let dictionary = value as? [String: Any] else {
                        throw TensorFileError.malformedHeader(file: source, reason: "__metadata__ is not an object")
                    }
                    for (key, item) in dictionary {
                        guard let text = item as? String else {
                            throw TensorFileError.malformedHeader(file: source, reason: "__metadata__ value for '\(key)' is not a string")
                        }
                        metadata[key] = text
                    }
                    continue
                }
                infos[name] = try Self.parseInfo(value, name: name, source: source, dataSize: dataSize)
            }
            // Tensors may not share bytes: sort by start and compare neighbours.
            let ordered = infos.sorted { ($0.value.dataOffsets.lowerBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.key) }
            for (previous, next) in zip(ordered, ordered.dropFirst())
            where next.value.dataOffsets.lowerBound < previous.value.dataOffsets.upperBound
                && !next.value.dataOffsets.isEmpty && !previous.value.dataOffsets.isEmpty {
                throw TensorFileError.overlappingData(file: source, tensor: next.key, other: previous.key)
            }
            self.metadata = metadata
            self.infos = infos
            names = infos.keys.sorted()
        }

        private static func parseInfo(_ value: Any, name: String, source: String, dataSize: Int) throws -> SafeTensorsFile.TensorInfo {
            guard let entry = value as? [String: Any] else {
                throw TensorFileError.malformedHeader(file: source, reason: "entry for tensor '\(name)' is not an object")
            }
            guard let dtypeName = entry["dtype"] as? String else {
                throw TensorFileError.malformedHeader(file: source, reason: "tensor '\(name)' has no string 'dtype'")
            }
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw TensorFileError.unknownDType(file: source, tensor: name, dtype: dtypeName)
            }
            guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw TensorFileError.malformedHeader(file: source, reason: "tensor '\(name)' has no valid 'shape' list")
            }
            guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
                throw TensorFileError.malformedHeader(file: source, reason: "tensor '\(name)' has no valid 'data_offsets' pair")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw TensorFileError.offsetsOutOfRange(file: source, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            let (elements, overflow) = shape.reduce((1, false)) { partial, dim in
                let product = partial.0.multipliedReportingOverflow(by: dim)
                return (product.partialValue, partial.1 || product.overflow)
            }
            let (expected, overflowBytes) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, !overflowBytes, expected == end - begin else {
                throw TensorFileError.byteCountMismatch(file: source, tensor: name, shape: shape, dtype: dtypeName,
                                                        expectedBytes: overflow || overflowBytes ? Int.max : expected,
                                                        actualBytes: end - begin)
            }
            return SafeTensorsFile.TensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
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

        /// The stored bytes of tensor `name` within `bytes` (the bytes this header was parsed from).
        func rawBytes(named name: String, in bytes: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
            guard let info = infos[name] else { throw TensorFileError.missingTensor(file: source, key: name) }
            let base = bytes.baseAddress.map { $0 + dataStart + info.dataOffsets.lowerBound }
            return UnsafeRawBufferPointer(start: base, count: info.dataOffsets.count)
        }

        /// Tensor `name` converted to Float32.
        func tensor(named name: String, in bytes: UnsafeRawBufferPointer) throws -> Tensor {
            let stored = try rawBytes(named: name, in: bytes)
            let info = infos[name]!
            return Tensor(shape: info.shape) { buffer in
                if let source = stored.baseAddress, buffer.count > 0 { info.dtype.convert(source, count: buffer.count, to: buffer.baseAddress!) }
            }
        }

        /// Every tensor converted to Float32.
        func tensors(in bytes: UnsafeRawBufferPointer) throws -> [String: Tensor] {
            var result: [String: Tensor] = [:]
            for name in names { result[name] = try tensor(named: name, in: bytes) }
            return result
        }
    }
}
