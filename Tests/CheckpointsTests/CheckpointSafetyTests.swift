import Compression
import Foundation
import Testing
import Tensors
@testable import Checkpoints

@Suite struct CheckpointSafetyTests {
    @Test func maliciousPickleIsRefusedWithoutRunningIt() throws {
        let marker = "/tmp/regionspot-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        let url = fixtures.appendingPathComponent("malicious.pth")
        let error = checkpointError { _ = try Checkpoint.read(url) }
        #expect(error == .forbiddenGlobal(file: url.path, global: "posix.system"))
        #expect(error?.description.contains("posix.system") == true)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    /// A protocol 2 pickle that calls `module.name(argument)`.
    private func callPickle(_ module: String, _ name: String, stackGlobal: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = [0x80, 0x02]
        if stackGlobal {
            for text in [module, name] { bytes += [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
            bytes += [0x93]
        } else {
            bytes += [0x63] + Array("\(module)\n\(name)\n".utf8)
        }
        bytes += [0x8C, 2] + Array("id".utf8) + [0x85, 0x52, 0x2E]  // ("id",) REDUCE STOP
        return bytes
    }

    private func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { raw in
            var unpickler = Unpickler(bytes: raw, file: "test.pkl") { _ in .none }
            return try unpickler.load()
        }
    }

    @Test func forbiddenGlobalsAreNamed() {
        for (module, name) in [("builtins", "eval"), ("os", "system"), ("subprocess", "Popen"), ("torch", "load"),
                               ("torch._utils", "_rebuild_meta_tensor_no_storage"), ("__builtin__", "exec")] {
            for stackGlobal in [false, true] {
                let error = checkpointError { _ = try unpickle(callPickle(module, name, stackGlobal: stackGlobal)) }
                #expect(error == .forbiddenGlobal(file: "test.pkl", global: "\(module).\(name)"))
            }
        }
    }

    @Test func truncatedPicklesFailCleanly() throws {
        let archive = try ZipArchive(url: fixtures.appendingPathComponent("regionspot.pth"))
        let pickle = try archive.contents(of: "regionspot/data.pkl").withBytes { Array($0) }
        var storages: [String: TorchStorage] = [:]
        for length in stride(from: 0, to: pickle.count, by: 5) {
            let error = checkpointError {
                _ = try Array(pickle[0..<length]).withUnsafeBytes { raw in
                    var unpickler = Unpickler(bytes: raw, file: "cut.pkl") { id in
                        try ZipStorageArchive.storage(from: id, file: "cut.pkl", cache: &storages)
                    }
                    return try unpickler.load()
                }
            }
            guard case .malformedPickle("cut.pkl", _, _)? = error else {
                Issue.record("length \(length): \(String(describing: error))")
                return
            }
        }
    }

    @Test func selfReferentialPickleIsBounded() throws {
        // d = {}; d["a"] = d, built with MEMOIZE / BINGET.
        let bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x94, 0x8C, 1, 0x61, 0x68, 0, 0x73, 0x2E]
        let url = try zipFile(entries: [("archive/data.pkl", bytes)])
        guard case .notACheckpoint? = checkpointError({ _ = try Checkpoint.read(url) }) else {
            Issue.record("recursion"); return
        }
    }

    @Test func truncatedAndCorruptZipsGiveClearErrors() throws {
        let original = try Data(contentsOf: fixtures.appendingPathComponent("regionspot.pth"))
        let url = try temporaryFile("broken.pth")

        for cut in [original.count / 2, original.count - 10, 30] {
            try original.prefix(cut).write(to: url)
            let error = checkpointError { _ = try Checkpoint.read(url) }
            guard case .corruptZip(let file, _)? = error else { Issue.record("cut at \(cut): \(String(describing: error))"); continue }
            #expect(file == url.path)
        }

        // Flip a byte inside data.pkl: the CRC check catches it.
        var damaged = [UInt8](original)
        let pickleStart = 30 + "regionspot/data.pkl".utf8.count
        let extra = Int(damaged[28]) | Int(damaged[29]) << 8
        damaged[pickleStart + extra + 100] ^= 0xFF
        try Data(damaged).write(to: url)
        guard case .corruptZip(_, let reason)? = checkpointError({ _ = try Checkpoint.read(url) }) else {
            Issue.record("checksum"); return
        }
        #expect(reason.contains("checksum"))

        try Data("this is not a checkpoint".utf8).write(to: url)
        guard case .notACheckpoint? = checkpointError({ _ = try Checkpoint.read(url) }) else { Issue.record("text"); return }
        guard case .unreadable? = checkpointError({ _ = try Checkpoint.read(url.appendingPathExtension("missing")) }) else {
            Issue.record("missing"); return
        }
        let noPickle = try zipFile(entries: [("archive/version", Array("3\n".utf8))])
        guard case .notACheckpoint? = checkpointError({ _ = try Checkpoint.read(noPickle) }) else { Issue.record("no data.pkl"); return }
    }

    @Test func viewsOutsideTheirStorageAreRejected() throws {
        let storage = TorchStorage(dtype: .f32, key: "0", count: 6)
        let data = [UInt8](repeating: 0, count: 24)
        for (offset, shape, strides) in [(0, [2, 4], [4, 1]), (5, [2], [1]), (0, [3, 2], [3, 1]), (-1, [1], [1])] {
            let tensor = TorchTensor(storage: storage, offset: offset, shape: shape, strides: strides)
            let error = checkpointError { _ = try data.withUnsafeBytes { try tensor.materialize(storageBytes: $0, key: "w", file: "f") } }
            guard case .badTensor("f", "w", _)? = error else { Issue.record("\(offset) \(shape) \(strides)"); continue }
        }
        let short = TorchTensor(storage: TorchStorage(dtype: .f32, key: "0", count: 10), offset: 0, shape: [2], strides: [1])
        guard case .badTensor? = checkpointError({ _ = try data.withUnsafeBytes { try short.materialize(storageBytes: $0, key: "w", file: "f") } }) else {
            Issue.record("short storage"); return
        }
    }

    /// A stored (uncompressed) zip of `entries`.
    private func zipFile(entries: [(String, [UInt8])]) throws -> URL {
        var body: [UInt8] = []
        var directory: [UInt8] = []
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16 & 0xFFFF) }
        for (name, data) in entries {
            let crc = data.withUnsafeBytes { Int(CRC32.checksum($0)) }
            let offset = body.count
            let fields = u16(20) + u16(0) + u16(0) + u16(0) + u16(0) + u32(crc) + u32(data.count) + u32(data.count)
                + u16(name.utf8.count) + u16(0)
            body += u32(0x0403_4b50) + fields + Array(name.utf8) + data
            directory += u32(0x0201_4b50) + u16(20) + fields + u16(0) + u16(0) + u16(0) + u32(0) + u32(offset) + Array(name.utf8)
        }
        let end = u32(0x0605_4b50) + u16(0) + u16(0) + u16(entries.count) + u16(entries.count) + u32(directory.count) + u32(body.count) + u16(0)
        let url = try temporaryFile("made.pth")
        try Data(body + directory + end).write(to: url)
        return url
    }
}
