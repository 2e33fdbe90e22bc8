import Foundation
import Tensors

/// The tests' tiny model bundle: random SAM, CLIP and fusion weights from
/// Tools/make_pipeline_fixtures.py (Tests/RegionSpotTests/Fixtures/pipeline), with the image,
/// boxes and vocabulary the reference pipeline ran on.
public enum TinyBundle {
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("RegionSpotTests/Fixtures/pipeline")
    public static var image: URL { fixtures.appendingPathComponent("image.png") }
    public static var request: URL { fixtures.appendingPathComponent("request.json") }

    /// Writes the bundle into a fresh temporary directory and returns it (the caller removes it);
    /// `fusion` replaces the fixture's fusion weights.
    /// The committed CLIP file stores only the token-embedding rows the prompts use, so the full
    /// [49408, W] table is rebuilt here.
    public static func make(logitScale: Float? = nil, fusion: URL? = nil) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("sam.safetensors"),
                                         to: directory.appendingPathComponent("sam.safetensors"))
        try FileManager.default.copyItem(at: fusion ?? fixtures.appendingPathComponent("fusion.safetensors"),
                                         to: directory.appendingPathComponent("fusion.safetensors"))
        var clip = try SafeTensorsFile(url: fixtures.appendingPathComponent("clip_parts.safetensors")).tensors()
        let ids = clip.removeValue(forKey: "token_embedding_ids")!.scalars.map { Int($0) }
        let rows = clip.removeValue(forKey: "token_embedding_rows")!
        let width = rows.shape[1]
        var table = Tensor(shape: [49408, width])
        table.withUnsafeMutableBufferPointer { t in
            for (r, id) in ids.enumerated() {
                for j in 0..<width { t[id * width + j] = rows.scalars[r * width + j] }
            }
        }
        clip["token_embedding.weight"] = table
        try SafeTensors.write(clip, to: directory.appendingPathComponent("clip.safetensors"))
        let fixtureRequest = try JSONSerialization.jsonObject(with: Data(contentsOf: request)) as! [String: Any]
        var manifest: [String: Any] = [
            "format": "regionspot-bundle", "version": 1, "name": "tiny-random",
            "sam": ["weights": "sam.safetensors"], "fusion": ["weights": "fusion.safetensors"],
            "clip": ["weights": "clip.safetensors", "input_size": fixtureRequest["clip_input_size"]!],
        ]
        if let logitScale { manifest["logit_scale"] = logitScale }
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: directory.appendingPathComponent("regionspot.json"))
        return directory
    }
}
