import Foundation
import RegionSpot

extension ModelBundle {
    /// What a broker and its workers compare (`Ready.model_id`) so that no worker computes with
    /// other weights: FNV-1a over the manifest's bytes and the weight files' sizes, in hex.
    public func pipelineModelID() throws -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        mix(try Data(contentsOf: directory.appendingPathComponent(ModelBundle.manifestName)))
        for url in [samURL, clipURL, fusionURL] {
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            mix("\(size);".utf8)
        }
        return String(hash, radix: 16)
    }
}
