import Foundation
import Tensors

/// A tensor as the checkpoint stores it: its dtype, shape and contiguous little-endian bytes
/// (strided views already materialised). Kept unconverted so F16 weights can be written
/// back bit for bit.
public struct CheckpointTensor: Sendable, Equatable {
    public let dtype: TensorDType
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The values as Float32 (F16/BF16 exactly, integers by value).
    public var floatTensor: Tensor {
        Tensor(shape: shape) { buffer in
            bytes.withUnsafeBytes { raw in
                if buffer.count > 0 { dtype.convert(raw.baseAddress!, count: buffer.count, to: buffer.baseAddress!) }
            }
        }
    }
}

extension TorchTensor {
    /// The view as Float32; a contiguous view converts straight from the storage, with no
    /// intermediate copy in the stored dtype.
    func floatTensor(storageBytes data: UnsafeRawBufferPointer, key: String, file: String) throws -> Tensor {
        let count = try validate(storageBytes: data, key: key, file: file)
        guard isContiguous else { return try materialize(storageBytes: data, key: key, file: file).floatTensor }
        let source = data.baseAddress.map { $0 + offset * storage.dtype.byteSize }
        return Tensor(shape: shape) { buffer in
            if count > 0, let source { storage.dtype.convert(source, count: count, to: buffer.baseAddress!) }
        }
    }

    /// Copies the view's elements, in row-major order, out of its storage's bytes.
    func materialize(storageBytes data: UnsafeRawBufferPointer, key: String, file: String) throws -> CheckpointTensor {
        let count = try validate(storageBytes: data, key: key, file: file)
        let size = storage.dtype.byteSize
        guard count > 0 else { return CheckpointTensor(dtype: storage.dtype, shape: shape, bytes: []) }
        var bytes = [UInt8](unsafeUninitializedCapacity: count * size) { _, initialized in initialized = count * size }
        let base = data.baseAddress!
        bytes.withUnsafeMutableBytes { out in
            let destination = out.baseAddress!
            if isContiguous {
                memcpy(destination, base + offset * size, count * size)
                return
            }
            // Walk the outer indices like an odometer; copy the innermost run element by element.
            let rank = shape.count
            let inner = shape[rank - 1], innerStride = strides[rank - 1] * size
            var index = [Int](repeating: 0, count: rank - 1)
            var written = 0
            while written < count {
                var source = offset
                for d in 0..<(rank - 1) { source += index[d] * strides[d] }
                var pointer = base + source * size
                for _ in 0..<inner {
                    memcpy(destination + written * size, pointer, size)
                    pointer += innerStride
                    written += 1
                }
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return CheckpointTensor(dtype: storage.dtype, shape: shape, bytes: bytes)
    }

    /// Checks the view against its storage; returns its element count.
    private func validate(storageBytes data: UnsafeRawBufferPointer, key: String, file: String) throws -> Int {
        func bad(_ reason: String) -> CheckpointError { .badTensor(file: file, key: key, reason: reason) }
        let size = storage.dtype.byteSize
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw bad("negative size, stride or offset (size \(shape), stride \(strides), offset \(offset))")
        }
        guard storage.count >= 0, data.count >= storage.count * size else {
            throw bad("storage '\(storage.key)' holds \(data.count) bytes, its \(storage.count) \(storage.dtype.rawValue) elements need \(storage.count * size)")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw bad("size \(shape) overflows") }
            count = product
        }
        guard count > 0 else { return 0 }
        var last = offset
        for (dimension, stride) in zip(shape, strides) {
            let (reach, overflow) = (dimension - 1).multipliedReportingOverflow(by: stride)
            guard !overflow, last <= Int.max - reach else { throw bad("strides \(strides) overflow") }
            last += reach
        }
        guard last < storage.count else {
            throw bad("view (offset \(offset), size \(shape), stride \(strides)) reaches element \(last) of a \(storage.count)-element storage")
        }

        return count
    }

    /// Row-major contiguous, ignoring the strides of size-1 dimensions (which never move).
    private var isContiguous: Bool {
        var expected = 1
        for (dimension, stride) in zip(shape, strides).reversed() where dimension != 1 {
            if stride != expected { return false }
            expected *= dimension
        }
        return true
    }
}
