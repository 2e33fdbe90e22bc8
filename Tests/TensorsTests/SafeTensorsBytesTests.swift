import Foundation
import Testing
import Tensors

/// Safetensors encoded to and decoded from `Data`, as stage messages carry tensors.
@Suite struct SafeTensorsBytesTests {
    /// Values whose bits a careless conversion changes: signed zero, infinities, a NaN payload,
    /// subnormals, the extremes.
    static let awkward: [Float] = [0, -0.0, .infinity, -.infinity, Float(bitPattern: 0x7fc1_2345), .leastNonzeroMagnitude,
                                   -.leastNormalMagnitude, .greatestFiniteMagnitude, 1, -1.5e-40]

    static func tensors() -> [String: Tensor] {
        var generator = SplitMix64(seed: 23)
        return [
            "image_embedding": Tensor.random([4, 3, 3], in: -30...30, using: &generator),
            "mask_tokens.0": Tensor.random([2, 5], using: &generator),
            "awkward": Tensor(shape: [awkward.count], scalars: awkward),
            "scalar": Tensor(shape: [], scalars: [7]),
            "empty": Tensor(shape: [0, 4]),
        ]
    }

    /// Shapes and bit patterns: `==` on tensors is false for a NaN even against itself.
    static func bits(_ tensors: [String: Tensor]) -> [String: [[UInt32]]] {
        tensors.mapValues { [$0.shape.map(UInt32.init)] + [$0.scalars.map(\.bitPattern)] }
    }

    @Test func float32RoundTripIsBitForBit() throws {
        let tensors = Self.tensors()
        let metadata = ["stage": "sam", "original_size": "480,640"]
        let decoded = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: metadata))
        #expect(decoded.metadata == metadata)
        #expect(Self.bits(decoded.tensors) == Self.bits(tensors))
    }

    @Test func bytesAreWhatTheFileWriterWrites() throws {
        let tensors = Self.tensors()
        let url = try temporaryDirectory().appendingPathComponent("same.safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: url, dtype: .f16)
        #expect(try Data(contentsOf: url) == SafeTensors.encode(tensors, metadata: ["format": "pt"], dtype: .f16))
        let fromFile = try SafeTensorsFile(url: url).tensors()
        #expect(Self.bits(try SafeTensors.decode(Data(contentsOf: url)).tensors) == Self.bits(fromFile))
    }

    @Test func float16TransportRoundsEachValueToNearestHalf() throws {
        let tensors = Self.tensors()
        let decoded = try SafeTensors.decode(SafeTensors.encode(tensors, dtype: .f16)).tensors
        for (name, tensor) in tensors {
            let back = try #require(decoded[name])
            #expect(back.shape == tensor.shape, "\(name)")
            for (value, half) in zip(tensor.scalars, back.scalars) {
                let rounded = Half.toFloat(Half.fromFloat(value))
                #expect(half.bitPattern == rounded.bitPattern || (half.isNaN && value.isNaN), "\(name): \(value) → \(half)")
                // Within half precision's rounding (2^-11 relative) where F16 has normal numbers.
                if abs(value) >= 6.1e-5 && abs(value) <= 65504 {
                    #expect(abs(half - value) <= abs(value) * 0x1p-11, "\(name): \(value) → \(half)")
                }
            }
        }
    }

    @Test func decodesASliceOfALargerBuffer() throws {
        let tensors = Self.tensors()
        let message = Data("envelope".utf8) + SafeTensors.encode(tensors)
        #expect(Self.bits(try SafeTensors.decode(message.dropFirst(8)).tensors) == Self.bits(tensors))
    }

    /// A tensor's shape from the header alone, in a slice of a larger buffer too.
    @Test func shapeComesFromTheHeader() throws {
        let message = Data("envelope".utf8) + SafeTensors.encode(Self.tensors())
        let bytes = message.dropFirst(8)
        #expect(try SafeTensors.shape(of: "image_embedding", in: bytes) == [4, 3, 3])
        #expect(try SafeTensors.shape(of: "empty", in: bytes) == [0, 4])
        #expect(try SafeTensors.shape(of: "absent", in: bytes) == nil)
        #expect(throws: TensorFileError.self) { try SafeTensors.shape(of: "empty", in: bytes.prefix(20)) }
    }

    // MARK: - Malformed bytes

    private func decodingError(_ data: Data) -> TensorFileError? {
        do {
            _ = try SafeTensors.decode(data, source: "region tokens message")
            return nil
        } catch {
            return error as? TensorFileError
        }
    }

    private func bytes(header: String, data: [UInt8] = [UInt8](repeating: 0, count: 8)) -> Data {
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) } + Data(header.utf8) + data
    }

    @Test func everyTruncationIsRefused() throws {
        let data = SafeTensors.encode(["a": Tensor(shape: [3], scalars: [1, 2, 3]), "b": Tensor(shape: [1], scalars: [4])])
        for length in 0..<data.count {
            let error = try #require(decodingError(data.prefix(length)), "a \(length)-byte prefix decoded")
            #expect(error.description.hasPrefix("region tokens message: "), "\(error)")
        }
    }

    @Test func malformedHeadersAreRefusedNamingTensorAndField() throws {
        let cases: [(Data, [String])] = [
            (Data([1, 2, 3]), ["truncated", "3 bytes"]),
            (withUnsafeBytes(of: UInt64(1000).littleEndian) { Data($0) } + Data("{}".utf8), ["header length 1000", "10 bytes"]),
            (bytes(header: "{\"x\": ["), ["not valid JSON"]),
            (bytes(header: #"{"x":{"shape":[2],"data_offsets":[0,8]}}"#), ["'x'", "'dtype'"]),
            (bytes(header: #"{"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#), ["'x'", "'Q7'"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#), ["'x'", "'shape'"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#), ["'x'", "'data_offsets'"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#), ["'x'", "data offsets [0, 16)", "8-byte data section"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#), ["'x'", "data offsets [8, 0)"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#), ["'x'", "needs 12 bytes", "holds 8"]),
            (bytes(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#),
             ["'y'", "overlaps", "'x'"]),
            (bytes(header: #"{"__metadata__":{"a":1}}"#), ["__metadata__", "'a'"]),
        ]
        for (data, fragments) in cases {
            let error = try #require(decodingError(data), "accepted \(fragments)")
            let message = error.description
            #expect(message.hasPrefix("region tokens message: "), "\(message)")
            for fragment in fragments { #expect(message.contains(fragment), "\(message) lacks \(fragment)") }
        }
        #expect(decodingError(bytes(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#)) == nil)
    }
}
