import Foundation
import Testing
import Tensors

let ioFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/io")

/// A fresh temporary directory for files a test writes.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tensors-io-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct SafeTensorsTests {
    @Test func readsEveryDTypeAsPyTorchConvertsIt() throws {
        let file = try SafeTensorsFile(url: ioFixtures.appendingPathComponent("dtypes.safetensors"))
        let expected = try SafeTensorsFile(url: ioFixtures.appendingPathComponent("dtypes_expected.safetensors"))
        #expect(file.names == expected.names)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.info("f16")?.dtype == .f16)
        #expect(file.info("bf16")?.dtype == .bf16)
        #expect(file.info("scalar")?.shape == [])
        #expect(file.info("empty")?.shape == [0, 3])
        for name in file.names {
            let ours = try file.tensor(named: name)
            let theirs = try expected.tensor(named: name)
            #expect(ours.shape == theirs.shape, "\(name)")
            #expect(ours.scalars.map(\.bitPattern) == theirs.scalars.map(\.bitPattern), "\(name)")
        }
    }

    @Test func writerMatchesPythonSafetensorsByteForByte() throws {
        let reference = ioFixtures.appendingPathComponent("writer_reference.safetensors")
        let file = try SafeTensorsFile(url: reference)
        var raw: [String: SafeTensors.RawTensor] = [:]
        for name in file.names {
            let info = file.info(name)!
            let tensor = try file.tensor(named: name)
            if info.dtype == .i64 {
                let value = Int64(tensor.scalars[0])
                raw[name] = SafeTensors.RawTensor(dtype: .i64, shape: info.shape, bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) })
            } else {
                raw[name] = SafeTensors.RawTensor(tensor, as: info.dtype)
            }
        }
        let directory = try temporaryDirectory()
        let written = directory.appendingPathComponent("ours.safetensors")
        try SafeTensors.write(raw: raw, to: written)
        #expect(try Data(contentsOf: written) == Data(contentsOf: reference))
    }

    @Test func roundTripsTensorsAndMetadata() throws {
        var generator = SplitMix64(seed: 11)
        let tensors = [
            "a": Tensor.random([3, 7], using: &generator),
            "b.c": Tensor.random([2, 2, 2], using: &generator),
            "scalar": Tensor(shape: [], scalars: [4]),
            "empty": Tensor(shape: [0, 5]),
        ]
        let url = try temporaryDirectory().appendingPathComponent("round.safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "pt", "über": "\"quoted\"\n"], to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(file.metadata == ["format": "pt", "über": "\"quoted\"\n"])
        #expect(try file.tensors() == tensors)
        #expect(try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8 == 0)

        try SafeTensors.write(tensors, to: url, dtype: .f16)
        let half = try SafeTensorsFile(url: url)
        #expect(half.info("a")?.dtype == .f16)
        let a = try half.tensor(named: "a")
        #expect(zip(a.scalars, tensors["a"]!.scalars).allSatisfy { abs($0 - $1) <= 1e-3 })
    }

    @Test func halfAndBFloat16RoundingMatchesPyTorch() throws {
        let file = try SafeTensorsFile(url: ioFixtures.appendingPathComponent("rounding.safetensors"))
        let source = try file.tensor(named: "source").scalars
        let f16 = try file.withRawBytes(named: "f16") { Array($0.bindMemory(to: UInt16.self)) }
        let bf16 = try file.withRawBytes(named: "bf16") { Array($0.bindMemory(to: UInt16.self)) }
        for (i, value) in source.enumerated() {
            #expect(Half.fromFloat(value) == f16[i], "f16 of \(value)")
            #expect(Half.bfloat16(from: value) == bf16[i], "bf16 of \(value)")
        }
    }

    #if !(os(macOS) && arch(x86_64))
    @Test func everyHalfDecodesLikeFloat16() {
        for bits in 0...UInt16.max {
            let ours = Half.toFloat(bits)
            let swift = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == swift.bitPattern || (ours.isNaN && swift.isNaN))
        }
    }
    #endif

    // MARK: - Malformed files

    /// A valid header for one F32 tensor "x" of shape [2] followed by its 8 bytes.
    private func file(header: String, data: [UInt8] = [UInt8](repeating: 0, count: 8), length: UInt64? = nil) throws -> URL {
        var bytes = withUnsafeBytes(of: (length ?? UInt64(header.utf8.count)).littleEndian) { Array($0) }
        bytes += Array(header.utf8) + data
        let url = try temporaryDirectory().appendingPathComponent("bad.safetensors")
        try Data(bytes).write(to: url)
        return url
    }

    private func error(opening url: URL) -> TensorFileError? {
        do {
            _ = try SafeTensorsFile(url: url)
            return nil
        } catch {
            return error as? TensorFileError
        }
    }

    @Test func rejectsMalformedFiles() throws {
        let good = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(error(opening: try file(header: good)) == nil)

        let short = try temporaryDirectory().appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        guard case .truncated(let path, _)? = error(opening: short) else { Issue.record("short file"); return }
        #expect(path == short.path)

        guard case .headerBeyondFile(_, 1000, _)? = error(opening: try file(header: good, length: 1000)) else {
            Issue.record("header length"); return
        }
        guard case .malformedHeader? = error(opening: try file(header: "{\"x\": [")) else { Issue.record("json"); return }
        guard case .malformedHeader? = error(opening: try file(header: "[1,2]")) else { Issue.record("not object"); return }
        guard case .malformedHeader? = error(opening: try file(header: #"{"x":{"dtype":"F32","shape":[2]}}"#)) else {
            Issue.record("no offsets"); return
        }
        guard case .unknownDType(_, "x", "Q7")? = error(opening: try file(header: #"{"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#)) else {
            Issue.record("dtype"); return
        }
        guard case .offsetsOutOfRange(_, "x", 0, 16, 8)? = error(opening: try file(header: #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#)) else {
            Issue.record("range"); return
        }
        guard case .offsetsOutOfRange(_, "x", 8, 0, _)? = error(opening: try file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#)) else {
            Issue.record("reversed"); return
        }
        guard case .byteCountMismatch(_, "x", [3], "F32", 12, 8)? = error(opening: try file(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#)) else {
            Issue.record("byte count"); return
        }
        let overlap = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        guard case .overlappingData(_, "y", "x")? = error(opening: try file(header: overlap)) else { Issue.record("overlap"); return }
        guard case .malformedHeader? = error(opening: try file(header: #"{"__metadata__":{"a":1}}"#)) else { Issue.record("metadata"); return }

        let valid = try SafeTensorsFile(url: try file(header: good))
        #expect(throws: TensorFileError.missingTensor(file: valid.url.path, key: "y")) { try valid.tensor(named: "y") }
    }

    @Test func errorsNameFileAndTensor() {
        let error = TensorFileError.shapeMismatch(file: "/m/sam.safetensors", key: "image_encoder.neck.0.weight", expected: [256, 768, 1, 1], actual: [256, 1024, 1, 1])
        #expect(error.description.contains("/m/sam.safetensors"))
        #expect(error.description.contains("image_encoder.neck.0.weight"))
        #expect(error.description.contains("[256, 768, 1, 1]") && error.description.contains("[256, 1024, 1, 1]"))
    }
}
