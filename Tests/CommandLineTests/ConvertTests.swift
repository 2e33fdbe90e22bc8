import Foundation
import Testing
import Tensors

/// `regionspot convert` with its default options on RegionSpot's official checkpoint layout
/// (detectron2: `{"model": {"model.to_clip.weight", …}, "trainer": …, "iteration": …}`) writes
/// the state dict under its own keys, which is what model bundles load.
@Test func convertUnwrapsADetectron2Checkpoint() throws {
    let pipeline = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../RegionSpotTests/Fixtures/pipeline").standardizedFileURL
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let output = directory.appendingPathComponent("fusion.safetensors")
    let result = try Executable.run(["convert", pipeline.appendingPathComponent("fusion_detectron2.pth").path, output.path])
    #expect(result.status == 0, "\(result.standardError)")
    let head = try SafeTensorsFile(url: pipeline.appendingPathComponent("fusion.safetensors")).names
    #expect(result.standardOutput.contains("\(head.count) tensors (\(head.count) F32)"), "\(result.standardOutput)")
    #expect(try SafeTensorsFile(url: output).names == head.map { "model." + $0 }.sorted())
}
