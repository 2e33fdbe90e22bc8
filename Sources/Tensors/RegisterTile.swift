/// Register-tiled matrix products for attention's inner loops: C[6 × w] += A[6 × depth] · B[depth × w]
/// with A and B read where they lie, row by row, without the packing copies a BLAS call makes.
///
/// Attention's products are thin (depth or width is one head, 64 floats), so OpenBLAS spends a
/// large share of each call packing its operands; here every B row is a contiguous run of w
/// floats and each A element is broadcast straight from memory into the FMAs.
public enum RegisterTile {
    typealias Vector = SIMD16<Float>

    static let rows = 6
    /// The wide tile's columns: 6 × 4 vectors = 24 accumulators fill AVX-512's 32 registers.
    /// With AVX2 a 16-float vector takes two of the 16 registers, so the tile stays 6 × 16.
    #if REGIONSPOT_AVX512
    static let wideColumns = 64
    #else
    static let wideColumns = 16
    #endif
    /// Column counts are multiples of this.
    public static let narrowColumns = Vector.scalarCount

    /// C[rows × columns] += A[rows × depth] · B[depth × columns] for any number of rows, on the
    /// calling thread: whole tiles in place, a last partial tile through zero-padded copies.
    /// `columns` must be a multiple of `narrowColumns`.
    public static func multiplyAdd(
        rows: Int, a: UnsafePointer<Float>, aRowStride: Int, b: UnsafePointer<Float>, bRowStride: Int,
        c: UnsafeMutablePointer<Float>, cRowStride: Int, depth: Int, columns: Int
    ) {
        precondition(columns % narrowColumns == 0, "RegisterTile: \(columns) columns, not a multiple of \(narrowColumns)")
        let wholeTiles = rows / Self.rows
        for tile in 0..<wholeTiles {
            multiplyAdd(a: a + tile * Self.rows * aRowStride, aRowStride: aRowStride, b: b, bRowStride: bRowStride,
                        c: c + tile * Self.rows * cRowStride, cRowStride: cRowStride, depth: depth, columns: columns)
        }
        let first = wholeTiles * Self.rows, left = rows - first
        guard left > 0 else { return }
        let paddedA = UnsafeMutablePointer<Float>.allocate(capacity: Self.rows * depth)
        let paddedC = UnsafeMutablePointer<Float>.allocate(capacity: Self.rows * columns)
        defer { paddedA.deallocate(); paddedC.deallocate() }
        paddedA.initialize(repeating: 0, count: Self.rows * depth)
        paddedC.initialize(repeating: 0, count: Self.rows * columns)
        for row in 0..<left {
            paddedA.advanced(by: row * depth).update(from: a + (first + row) * aRowStride, count: depth)
            paddedC.advanced(by: row * columns).update(from: c + (first + row) * cRowStride, count: columns)
        }
        multiplyAdd(a: paddedA, aRowStride: depth, b: b, bRowStride: bRowStride, c: paddedC, cRowStride: columns,
                    depth: depth, columns: columns)
        for row in 0..<left {
            (c + (first + row) * cRowStride).update(from: paddedC + row * columns, count: columns)
        }
    }

    /// C[6 × columns] += A[6 × depth] · B[depth × columns] for any `columns` that is a multiple
    /// of 16: wide tiles, then narrow ones.
    @inline(__always)
    static func multiplyAdd(
        a: UnsafePointer<Float>, aRowStride: Int, b: UnsafePointer<Float>, bRowStride: Int,
        c: UnsafeMutablePointer<Float>, cRowStride: Int, depth: Int, columns: Int
    ) {
        var column = 0
        while column + wideColumns <= columns {
            wide(a: a, aRowStride: aRowStride, b: b + column, bRowStride: bRowStride,
                 c: c + column, cRowStride: cRowStride, depth: depth)
            column += wideColumns
        }
        while column < columns {
            narrow(a: a, aRowStride: aRowStride, b: b + column, bRowStride: bRowStride,
                   c: c + column, cRowStride: cRowStride, depth: depth)
            column += narrowColumns
        }
    }

    @inline(never)
    static func narrow(
        a: UnsafePointer<Float>, aRowStride: Int, b: UnsafePointer<Float>, bRowStride: Int,
        c: UnsafeMutablePointer<Float>, cRowStride: Int, depth: Int
    ) {
        let out = UnsafeMutableRawPointer(c), bBytes = UnsafeRawPointer(b)
        let stride = cRowStride * 4
        var c0 = out.loadUnaligned(as: Vector.self)
        var c1 = out.loadUnaligned(fromByteOffset: stride, as: Vector.self)
        var c2 = out.loadUnaligned(fromByteOffset: 2 * stride, as: Vector.self)
        var c3 = out.loadUnaligned(fromByteOffset: 3 * stride, as: Vector.self)
        var c4 = out.loadUnaligned(fromByteOffset: 4 * stride, as: Vector.self)
        var c5 = out.loadUnaligned(fromByteOffset: 5 * stride, as: Vector.self)
        let a1 = a + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride, a4 = a3 + aRowStride, a5 = a4 + aRowStride
        for k in 0..<depth {
            let v = bBytes.loadUnaligned(fromByteOffset: k * bRowStride * 4, as: Vector.self)
            c0.addProduct(Vector(repeating: a[k]), v)
            c1.addProduct(Vector(repeating: a1[k]), v)
            c2.addProduct(Vector(repeating: a2[k]), v)
            c3.addProduct(Vector(repeating: a3[k]), v)
            c4.addProduct(Vector(repeating: a4[k]), v)
            c5.addProduct(Vector(repeating: a5[k]), v)
        }
        out.storeBytes(of: c0, as: Vector.self)
        out.storeBytes(of: c1, toByteOffset: stride, as: Vector.self)
        out.storeBytes(of: c2, toByteOffset: 2 * stride, as: Vector.self)
        out.storeBytes(of: c3, toByteOffset: 3 * stride, as: Vector.self)
        out.storeBytes(of: c4, toByteOffset: 4 * stride, as: Vector.self)
        out.storeBytes(of: c5, toByteOffset: 5 * stride, as: Vector.self)
    }

    #if REGIONSPOT_AVX512
    /// The 6 × 64 tile, its 24 accumulators written out so that they stay in registers.
    @inline(never)
    static func wide(
        a: UnsafePointer<Float>, aRowStride: Int, b: UnsafePointer<Float>, bRowStride: Int,
        c: UnsafeMutablePointer<Float>, cRowStride: Int, depth: Int
    ) {
        let out = UnsafeMutableRawPointer(c), bBytes = UnsafeRawPointer(b)
        let s = cRowStride * 4
        func load(_ row: Int, _ part: Int) -> Vector { out.loadUnaligned(fromByteOffset: row * s + part * 64, as: Vector.self) }
        var c00 = load(0, 0), c01 = load(0, 1), c02 = load(0, 2), c03 = load(0, 3)
        var c10 = load(1, 0), c11 = load(1, 1), c12 = load(1, 2), c13 = load(1, 3)
        var c20 = load(2, 0), c21 = load(2, 1), c22 = load(2, 2), c23 = load(2, 3)
        var c30 = load(3, 0), c31 = load(3, 1), c32 = load(3, 2), c33 = load(3, 3)
        var c40 = load(4, 0), c41 = load(4, 1), c42 = load(4, 2), c43 = load(4, 3)
        var c50 = load(5, 0), c51 = load(5, 1), c52 = load(5, 2), c53 = load(5, 3)
        let a1 = a + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride, a4 = a3 + aRowStride, a5 = a4 + aRowStride
        for k in 0..<depth {
            let row = k * bRowStride * 4
            let v0 = bBytes.loadUnaligned(fromByteOffset: row, as: Vector.self)
            let v1 = bBytes.loadUnaligned(fromByteOffset: row + 64, as: Vector.self)
            let v2 = bBytes.loadUnaligned(fromByteOffset: row + 128, as: Vector.self)
            let v3 = bBytes.loadUnaligned(fromByteOffset: row + 192, as: Vector.self)
            var x = Vector(repeating: a[k])
            c00.addProduct(x, v0); c01.addProduct(x, v1); c02.addProduct(x, v2); c03.addProduct(x, v3)
            x = Vector(repeating: a1[k])
            c10.addProduct(x, v0); c11.addProduct(x, v1); c12.addProduct(x, v2); c13.addProduct(x, v3)
            x = Vector(repeating: a2[k])
            c20.addProduct(x, v0); c21.addProduct(x, v1); c22.addProduct(x, v2); c23.addProduct(x, v3)
            x = Vector(repeating: a3[k])
            c30.addProduct(x, v0); c31.addProduct(x, v1); c32.addProduct(x, v2); c33.addProduct(x, v3)
            x = Vector(repeating: a4[k])
            c40.addProduct(x, v0); c41.addProduct(x, v1); c42.addProduct(x, v2); c43.addProduct(x, v3)
            x = Vector(repeating: a5[k])
            c50.addProduct(x, v0); c51.addProduct(x, v1); c52.addProduct(x, v2); c53.addProduct(x, v3)
        }
        func store(_ value: Vector, _ row: Int, _ part: Int) { out.storeBytes(of: value, toByteOffset: row * s + part * 64, as: Vector.self) }
        store(c00, 0, 0); store(c01, 0, 1); store(c02, 0, 2); store(c03, 0, 3)
        store(c10, 1, 0); store(c11, 1, 1); store(c12, 1, 2); store(c13, 1, 3)
        store(c20, 2, 0); store(c21, 2, 1); store(c22, 2, 2); store(c23, 2, 3)
        store(c30, 3, 0); store(c31, 3, 1); store(c32, 3, 2); store(c33, 3, 3)
        store(c40, 4, 0); store(c41, 4, 1); store(c42, 4, 2); store(c43, 4, 3)
        store(c50, 5, 0); store(c51, 5, 1); store(c52, 5, 2); store(c53, 5, 3)
    }
    #else
    @inline(__always)
    static func wide(
        a: UnsafePointer<Float>, aRowStride: Int, b: UnsafePointer<Float>, bRowStride: Int,
        c: UnsafeMutablePointer<Float>, cRowStride: Int, depth: Int
    ) {
        narrow(a: a, aRowStride: aRowStride, b: b, bRowStride: bRowStride, c: c, cRowStride: cRowStride, depth: depth)
    }
    #endif
}
