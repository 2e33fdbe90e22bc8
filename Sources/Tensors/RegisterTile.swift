/// Register-tiled matrix products for attention's inner loops: C[6 × w] += A[6 × depth] · B[depth × w]
/// with A and B read where they lie, row by row, without the packing copies a BLAS call makes.
/// The product is summed from zero and then added to C, so that C (a bias, an earlier block's
/// sum) is rounded once, as when a reference adds it after its matrix product.
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

    /// `count` columns rounded up to whole vectors.
    public static func paddedColumns(_ count: Int) -> Int { (count + narrowColumns - 1) / narrowColumns * narrowColumns }

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
        var c0 = Vector(), c1 = Vector(), c2 = Vector(), c3 = Vector(), c4 = Vector(), c5 = Vector()
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
        add(c0, to: out); add(c1, to: out + stride); add(c2, to: out + 2 * stride)
        add(c3, to: out + 3 * stride); add(c4, to: out + 4 * stride); add(c5, to: out + 5 * stride)
    }

    /// C's vector at `target` += a tile's product, rounded once.
    @inline(__always)
    private static func add(_ product: Vector, to target: UnsafeMutableRawPointer) {
        target.storeBytes(of: target.loadUnaligned(as: Vector.self) + product, as: Vector.self)
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
        var c00 = Vector(), c01 = Vector(), c02 = Vector(), c03 = Vector()
        var c10 = Vector(), c11 = Vector(), c12 = Vector(), c13 = Vector()
        var c20 = Vector(), c21 = Vector(), c22 = Vector(), c23 = Vector()
        var c30 = Vector(), c31 = Vector(), c32 = Vector(), c33 = Vector()
        var c40 = Vector(), c41 = Vector(), c42 = Vector(), c43 = Vector()
        var c50 = Vector(), c51 = Vector(), c52 = Vector(), c53 = Vector()
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
        let r1 = out + s, r2 = r1 + s, r3 = r2 + s, r4 = r3 + s, r5 = r4 + s
        add(c00, to: out); add(c01, to: out + 64); add(c02, to: out + 128); add(c03, to: out + 192)
        add(c10, to: r1); add(c11, to: r1 + 64); add(c12, to: r1 + 128); add(c13, to: r1 + 192)
        add(c20, to: r2); add(c21, to: r2 + 64); add(c22, to: r2 + 128); add(c23, to: r2 + 192)
        add(c30, to: r3); add(c31, to: r3 + 64); add(c32, to: r3 + 128); add(c33, to: r3 + 192)
        add(c40, to: r4); add(c41, to: r4 + 64); add(c42, to: r4 + 128); add(c43, to: r4 + 192)
        add(c50, to: r5); add(c51, to: r5 + 64); add(c52, to: r5 + 128); add(c53, to: r5 + 192)
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
