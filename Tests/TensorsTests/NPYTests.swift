import Foundation
import Testing
import Tensors

@Suite struct NPYTests {
    @Test func readsNumpyFilesAsNumpyConvertsThem() throws {
        let expected = try SafeTensorsFile(url: ioFixtures.appendingPathComponent("npy_expected.safetensors"))
        for name in expected.names {
            let ours = try NPY.read(ioFixtures.appendingPathComponent("\(name).npy"))
            let theirs = try expected.tensor(named: name)
            #expect(ours.shape == theirs.shape, "\(name)")
            #expect(ours.scalars.map(\.bitPattern) == theirs.scalars.map(\.bitPattern), "\(name)")
        }
        let f4 = try expected.tensor(named: "f4")
        #expect(try NPY.read(ioFixtures.appendingPathComponent("v2.npy")) == f4)
        #expect(try NPY.read(ioFixtures.appendingPathComponent("v3.npy")) == f4)
        #expect(try NPY.read(ioFixtures.appendingPathComponent("scalar.npy")).shape == [])
    }

    @Test func writerMatchesNumpySave() throws {
        let directory = try temporaryDirectory()
        for (name, tensor) in [
            ("written_by_numpy", Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0) * 0.25 })),
            ("written_by_numpy_1d", Tensor(shape: [5], scalars: (0..<5).map { Float($0) - 2 })),
        ] {
            let url = directory.appendingPathComponent("\(name).npy")
            try NPY.write(tensor, to: url)
            #expect(try Data(contentsOf: url) == Data(contentsOf: ioFixtures.appendingPathComponent("\(name).npy")), "\(name)")
            #expect(try NPY.read(url) == tensor)
        }
    }

    @Test func roundTripsOddShapes() throws {
        var generator = SplitMix64(seed: 5)
        let url = try temporaryDirectory().appendingPathComponent("t.npy")
        for shape in [[], [0], [1], [2, 0, 3], [3, 1, 4, 2], [100_000]] {
            let tensor = Tensor.random(shape, using: &generator)
            try NPY.write(tensor, to: url)
            #expect(try NPY.read(url) == tensor, "\(shape)")
        }
    }

    private func error(reading url: URL) -> TensorFileError? {
        do {
            _ = try NPY.read(url)
            return nil
        } catch {
            return error as? TensorFileError
        }
    }

    /// A version 1 file with `header` (padded) and `dataBytes` zero bytes.
    private func file(header: String, dataBytes: Int) throws -> URL {
        var text = header
        text += String(repeating: " ", count: 63 - (10 + text.utf8.count) % 64) + "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(text.utf8.count & 0xff), UInt8(text.utf8.count >> 8)]
        bytes += Array(text.utf8) + [UInt8](repeating: 0, count: dataBytes)
        let url = try temporaryDirectory().appendingPathComponent("bad.npy")
        try Data(bytes).write(to: url)
        return url
    }

    @Test func rejectsBadFiles() throws {
        let fortran = ioFixtures.appendingPathComponent("fortran.npy")
        #expect(error(reading: fortran) == .fortranOrder(file: fortran.path))
        guard case .unknownDType(_, _, ">f4")? = error(reading: ioFixtures.appendingPathComponent("bigendian.npy")) else {
            Issue.record("big endian"); return
        }
        let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        #expect(error(reading: try file(header: good, dataBytes: 24)) == nil)
        guard case .byteCountMismatch(_, _, [2, 3], "<f4", 24, 20)? = error(reading: try file(header: good, dataBytes: 20)) else {
            Issue.record("short data"); return
        }
        guard case .unknownDType(_, _, "<c8")? = error(reading: try file(header: "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", dataBytes: 16)) else {
            Issue.record("complex"); return
        }
        guard case .malformedHeader? = error(reading: try file(header: "{'descr': '<f4', 'shape': (2,), }", dataBytes: 8)) else {
            Issue.record("no fortran_order"); return
        }
        guard case .malformedHeader? = error(reading: try file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", dataBytes: 8)) else {
            Issue.record("bad shape"); return
        }
        guard case .malformedHeader? = error(reading: try file(header: "['descr']", dataBytes: 8)) else { Issue.record("list"); return }

        let directory = try temporaryDirectory()
        let noMagic = directory.appendingPathComponent("nomagic.npy")
        try Data("not an npy file at all".utf8).write(to: noMagic)
        guard case .malformedHeader? = error(reading: noMagic) else { Issue.record("magic"); return }
        let tiny = directory.appendingPathComponent("tiny.npy")
        try Data([0x93, 0x4E]).write(to: tiny)
        guard case .truncated? = error(reading: tiny) else { Issue.record("tiny"); return }
        let cut = directory.appendingPathComponent("cut.npy")
        try Data(try Data(contentsOf: ioFixtures.appendingPathComponent("f4.npy")).prefix(40)).write(to: cut)
        guard case .headerBeyondFile? = error(reading: cut) else { Issue.record("cut header"); return }
        let missing = directory.appendingPathComponent("missing.npy")
        guard case .unreadable(let path, _)? = error(reading: missing) else { Issue.record("missing"); return }
        #expect(path == missing.path)
    }
}
