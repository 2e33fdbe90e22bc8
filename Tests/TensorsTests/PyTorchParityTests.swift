import Foundation
import Testing
import Tensors

/// Kernels against outputs PyTorch produced (Tools/make_tensor_fixtures.py), proving the
/// conventions (padding, groups, weight layouts, interpolation source positions), not only
/// self-consistency.
@Suite struct PyTorchParityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func load(_ name: String) throws -> Tensor {
        try NPY.read(fixtures.appendingPathComponent("\(name).npy"))
    }

    /// The exact pseudo-random grid the script's `hash_grid` builds.
    static func hashGrid(_ shape: [Int]) -> Tensor {
        let height = shape[shape.count - 2], width = shape[shape.count - 1]
        let planes = shape.reduce(1, *) / (height * width)
        var scalars = [Float](repeating: 0, count: shape.reduce(1, *))
        for p in 0..<planes { for i in 0..<height { for j in 0..<width {
            let k = (p * 1_299_709 + i * 7919 + j * 104_729 + (i * j) % 8191 * 31) % 65536
            scalars[(p * height + i) * width + j] = Float(k) / 65536 - 0.5
        } } }
        return Tensor(shape: shape, scalars: scalars)
    }

    @Test(arguments: ["bilinear", "bicubic"], ["14to21", "16to24", "batch_nonsquare", "mixed", "single_pixel", "column", "down_odd", "identity"])
    func interpolationSmall(mode: String, name: String) throws {
        let x = try Self.load("interp_\(mode)_\(name)_x"), expected = try Self.load("interp_\(mode)_\(name)_y")
        let y = x.interpolated(height: expected.dim(-2), width: expected.dim(-1), mode: mode == "bilinear" ? .bilinear : .bicubic)
        #expect(y.shape == expected.shape)
        #expect(maxRelativeError(y.scalars, expected.scalars) <= 1e-5)
    }

    @Test(arguments: ["bilinear", "bicubic"], [
        ("64to1024", [1, 64, 64], 1024, 1024), ("256to1024", [2, 256, 256], 1024, 1024),
        ("1024to683", [1, 1024, 1024], 683, 683), ("768x1024to683x911", [1, 768, 1024], 683, 911),
    ] as [(String, [Int], Int, Int)])
    func interpolationLarge(mode: String, testCase: (String, [Int], Int, Int)) throws {
        let (name, shape, height, width) = testCase
        let samples = try Self.load("interp_\(mode)_\(name)_samples")
        let y = Self.hashGrid(shape).interpolated(height: height, width: width, mode: mode == "bilinear" ? .bilinear : .bicubic)
        #expect(y.shape == [shape[0], height, width])
        let picked = (0..<samples.dim(0)).map { y.scalars[Int(samples.scalars[2 * $0])] }
        let expected = (0..<samples.dim(0)).map { samples.scalars[2 * $0 + 1] }
        #expect(maxRelativeError(picked, expected) <= 1e-5)
    }

    @Test(arguments: [
        ("grouped_strided", 2, 1, 2), ("depthwise", 1, 1, 8), ("depthwise_s2", 2, 1, 8),
        ("patch", 16, 0, 1), ("pointwise", 1, 0, 1), ("nonsquare_kernel", 3, 2, 1),
    ] as [(String, Int, Int, Int)])
    func conv2d(testCase: (String, Int, Int, Int)) throws {
        let (name, stride, padding, groups) = testCase
        let x = try Self.load("conv_\(name)_x"), w = try Self.load("conv_\(name)_w")
        let b = try Self.load("conv_\(name)_b"), expected = try Self.load("conv_\(name)_y")
        let y = x.conv2d(weight: w, bias: b, stride: stride, padding: padding, groups: groups)
        #expect(y.shape == expected.shape)
        #expect(maxRelativeError(y.scalars, expected.scalars) <= 1e-5)
    }

    @Test func convTranspose2x2() throws {
        let x = try Self.load("convT_x"), w = try Self.load("convT_w"), b = try Self.load("convT_b")
        let expected = try Self.load("convT_y")
        let y = x.convTranspose2x2(weight: w, bias: b)
        #expect(y.shape == expected.shape)
        #expect(maxRelativeError(y.scalars, expected.scalars) <= 1e-5)
    }

    @Test func layerNorms() throws {
        let x = try Self.load("layernorm_x")
        let y = x.layerNorm(weight: try Self.load("layernorm_w"), bias: try Self.load("layernorm_b"), eps: 1e-5)
        #expect(maxRelativeError(y.scalars, try Self.load("layernorm_y").scalars) <= 1e-5)
        let x2 = try Self.load("layernorm2d_x")
        let y2 = x2.layerNorm2d(weight: try Self.load("layernorm2d_w"), bias: try Self.load("layernorm2d_b"), eps: 1e-6)
        #expect(maxRelativeError(y2.scalars, try Self.load("layernorm2d_y").scalars) <= 1e-5)
    }

    @Test func activations() throws {
        let x = try Self.load("gelu_x")
        // Against PyTorch's float64 GELU (its 1 + erf cancels below ~1e-15 absolute).
        #expect(maxRelativeError(x.gelu().scalars, try Self.load("gelu_y").scalars, floor: 1e-9) <= 1e-5)
        // Against its float32 GELU, whose 1 + erf cancels for x ≪ 0: absolute on that scale.
        #expect(maxRelativeError(x.gelu().scalars, try Self.load("gelu_y_f32").scalars) <= 1e-6)
        #expect(maxRelativeError(x.quickGelu().scalars, try Self.load("quickgelu_y").scalars, floor: 1e-30) <= 1e-5)
    }

    @Test func softmaxWithMaskedEntries() throws {
        let y = try Self.load("softmax_x").softmax()
        #expect(maxRelativeError(y.scalars, try Self.load("softmax_y").scalars, floor: 1e-30) <= 1e-5)
    }
}
