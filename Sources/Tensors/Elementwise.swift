/// Elementwise arithmetic. Tensor–tensor operators need equal shapes (no implicit
/// broadcasting); `adding(rowVector:)` is the one broadcast the models need (a bias over rows).
extension Tensor {
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.combined(with: rhs, AddKernel.self, "+") }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.combined(with: rhs, SubtractKernel.self, "-") }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.combined(with: rhs, MultiplyKernel.self, "*") }

    public static func += (lhs: inout Tensor, rhs: Tensor) { lhs.addInPlace(rhs) }

    /// self += other (same shape), without allocating when the storage is not shared:
    /// the residual connections of every transformer block.
    public mutating func addInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "addInPlace: shapes differ, \(shape) and \(other.shape)")
        guard count > 0 else { return }
        let total = count
        other.scalars.withUnsafeBufferPointer { b in
            scalars.withUnsafeMutableBufferPointer { a in
                let a = a.baseAddress!, b = b.baseAddress!
                Parallel.forEachChunk(total, minimumPerChunk: Pointwise.minimumPerWorker) { range in
                    Binary.apply(AddKernel.self, a + range.lowerBound, b + range.lowerBound, a + range.lowerBound, range.count)
                }
            }
        }
    }

    /// self += other repeated: `other` holds the same number of elements (any shape) or a whole
    /// number of times fewer (broadcast over leading dimensions, e.g. [N, E] into [B, N, E]).
    /// SAM's decoder adds per-prompt image tokens this way (4 MB a prompt), split over the workers.
    public mutating func addInPlace(broadcast other: Tensor) {
        precondition(other.count > 0 && count % other.count == 0, "add: \(shape) vs \(other.shape)")
        let n = other.count, total = count
        other.withUnsafeBufferPointer { b in
            withUnsafeMutableBufferPointer { a in
                let (a, b) = (a.baseAddress!, b.baseAddress!)
                Parallel.forEachChunk(total, minimumPerChunk: 1 << 15) { range in
                    var i = range.lowerBound
                    while i < range.upperBound {
                        let j = i % n, run = min(range.upperBound - i, n - j)
                        FastMath.add(b + j, plus: 0, to: a + i, count: run)
                        i += run
                    }
                }
            }
        }
    }

    /// self + other repeated (see `addInPlace(broadcast:)`).
    public func adding(broadcast other: Tensor) -> Tensor {
        var out = self
        out.addInPlace(broadcast: other)
        return out
    }

    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.combined(with: rhs, AddKernel.self) }
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.combined(with: rhs, SubtractKernel.self) }
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.combined(with: rhs, MultiplyKernel.self) }
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs + lhs }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs * lhs }
    public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs * -1 + lhs }

    /// Adds `vector` to every row: self [..., N] + vector [N] (PyTorch broadcasting over the last dim).
    public func adding(rowVector vector: Tensor) -> Tensor {
        precondition(rank >= 1 && vector.shape == [dim(-1)], "adding(rowVector:): vector \(vector.shape) does not match last dimension of \(shape)")
        let width = dim(-1)
        return Tensor(shape: shape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                vector.scalars.withUnsafeBufferPointer { v in
                    let x = x.baseAddress!, v = v.baseAddress!, y = out.baseAddress!
                    Parallel.forEachChunk(count / width, minimumPerChunk: max(1, Pointwise.minimumPerWorker / width)) { rows in
                        for row in rows {
                            Binary.apply(AddKernel.self, x + row * width, v, y + row * width, width)
                        }
                    }
                }
            }
        }
    }

    func combined<Kernel: BinaryKernel>(with other: Tensor, _: Kernel.Type, _ symbol: String) -> Tensor {
        precondition(shape == other.shape, "elementwise \(symbol): shapes differ, \(shape) and \(other.shape)")
        return Tensor(shape: shape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    let a = a.baseAddress!, b = b.baseAddress!, y = out.baseAddress!
                    Parallel.forEachChunk(count, minimumPerChunk: Pointwise.minimumPerWorker) { range in
                        Binary.apply(Kernel.self, a + range.lowerBound, b + range.lowerBound, y + range.lowerBound, range.count)
                    }
                }
            }
        }
    }

    func combined<Kernel: BinaryKernel>(with scalar: Float, _: Kernel.Type) -> Tensor {
        Tensor(shape: shape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { a in
                let a = a.baseAddress!, y = out.baseAddress!
                Parallel.forEachChunk(count, minimumPerChunk: Pointwise.minimumPerWorker) { range in
                    Binary.apply(Kernel.self, a + range.lowerBound, scalar, y + range.lowerBound, range.count)
                }
            }
        }
    }
}

/// An operation on two floats; scalar code the compiler vectorises in the loops below.
protocol BinaryKernel {
    static func apply(_ a: Float, _ b: Float) -> Float
}

enum AddKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum SubtractKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum MultiplyKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }

enum Binary {
    @inline(__always)
    static func apply<Kernel: BinaryKernel>(
        _: Kernel.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int
    ) {
        for i in 0..<count { y[i] = Kernel.apply(a[i], b[i]) }
    }

    @inline(__always)
    static func apply<Kernel: BinaryKernel>(
        _: Kernel.Type, _ a: UnsafePointer<Float>, _ b: Float, _ y: UnsafeMutablePointer<Float>, _ count: Int
    ) {
        for i in 0..<count { y[i] = Kernel.apply(a[i], b) }
    }
}
