import Foundation

/// A contiguous, row-major Float32 tensor with value semantics (copy-on-write through Array).
///
/// Kernels work on raw pointers with explicit extents; `Tensor` is the owning container the
/// models pass around. Shapes are outermost-first, as in PyTorch.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor whose storage is written once by `body` (no zero-fill pass).
    public init(shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.scalars = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try body(buffer)
            initialized = count
        }
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape) }

    public var rank: Int { shape.count }
    public var count: Int { scalars.count }

    /// Size of dimension `axis`; negative axes count from the end.
    public func dim(_ axis: Int) -> Int { shape[axis < 0 ? shape.count + axis : axis] }

    /// Same storage, new shape. One dimension may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = self
        copy.shape = resolved
        return copy
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// Rows `range` of the tensor viewed as [dim(0), rest] (a copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        let rowSize = shape.count > 1 ? count / shape[0] : 1
        var newShape = shape
        newShape[0] = range.count
        return Tensor(shape: newShape, scalars: Array(scalars[(range.lowerBound * rowSize)..<(range.upperBound * rowSize)]))
    }

    /// Concatenation along dimension 0.
    public static func concatenate(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenate needs at least one tensor")
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "concatenate: trailing shapes differ")
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { scalars.append(contentsOf: part.scalars) }
        return Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + tail, scalars: scalars)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(6).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(preview)\(count > 6 ? ", …" : "")])"
    }
}
