import Foundation
import Testing
import Tensors

@Suite struct WeightLoaderTests {
    private let weights: [String: Tensor] = [
        "image_encoder.blocks.0.attn.qkv.weight": Tensor(shape: [6, 2], repeating: 1),
        "image_encoder.blocks.0.attn.qkv.bias": Tensor(shape: [6], repeating: 2),
        "image_encoder.blocks.1.attn.qkv.weight": Tensor(shape: [6, 2], repeating: 3),
        "image_encoder.neck.0.weight": Tensor(shape: [4, 2, 1, 1], repeating: 4),
        "mask_decoder.iou_token.weight": Tensor(shape: [1, 4], repeating: 5),
        "num_batches_tracked": Tensor(shape: [], scalars: [9]),
    ]

    @Test func scopesJoinKeysAndTrackUnusedOnes() throws {
        let loader = try WeightLoader(tensors: weights)
        let blocks = loader.scoped("image_encoder").scoped("blocks")
        let qkv = blocks.scoped(0).scoped("attn.qkv")
        #expect(qkv.prefix == "image_encoder.blocks.0.attn.qkv")
        #expect(try qkv.tensor("weight", shape: [6, 2]) == weights["image_encoder.blocks.0.attn.qkv.weight"])
        #expect(qkv.contains("bias"))
        #expect(try qkv.optionalTensor("bias", shape: [6]) != nil)
        #expect(try qkv.optionalTensor("missing") == nil)
        #expect(loader.scoped("image_encoder").scoped("neck.0").shape(of: "weight") == [4, 2, 1, 1])
        #expect(blocks.keys == ["image_encoder.blocks.0.attn.qkv.bias", "image_encoder.blocks.0.attn.qkv.weight",
                                "image_encoder.blocks.1.attn.qkv.weight"])
        #expect(blocks.unusedKeys() == ["image_encoder.blocks.1.attn.qkv.weight"])
        loader.markUsed(["num_batches_tracked"])
        #expect(loader.unusedKeys() == ["image_encoder.blocks.1.attn.qkv.weight", "image_encoder.neck.0.weight",
                                        "mask_decoder.iou_token.weight"])
    }

    @Test func errorsNameTheFullKeyAndShapes() throws {
        let url = try temporaryDirectory().appendingPathComponent("sam.safetensors")
        try SafeTensors.write(weights, to: url)
        let loader = try WeightLoader(file: url)
        let neck = loader.scoped("image_encoder").scoped("neck").scoped(0)
        #expect(throws: TensorFileError.shapeMismatch(file: url.path, key: "image_encoder.neck.0.weight", expected: [4, 3, 1, 1], actual: [4, 2, 1, 1])) {
            try neck.tensor("weight", shape: [4, 3, 1, 1])
        }
        #expect(throws: TensorFileError.missingTensor(file: url.path, key: "image_encoder.neck.0.bias")) {
            try neck.tensor("bias", shape: [4])
        }
        // A failed read does not count as a use.
        #expect(loader.unusedKeys().contains("image_encoder.neck.0.weight"))
        #expect(try neck.tensor("weight") == weights["image_encoder.neck.0.weight"])
    }

    @Test func renamesDropsAndRejectsDuplicates() throws {
        let directory = try temporaryDirectory()
        let first = directory.appendingPathComponent("a.safetensors")
        let second = directory.appendingPathComponent("b.safetensors")
        try SafeTensors.write(["visual.proj": Tensor(shape: [2, 2], repeating: 1), "position_ids": Tensor(shape: [3])], to: first)
        try SafeTensors.write(["text.proj": Tensor(shape: [2], repeating: 2)], to: second)
        let loader = try WeightLoader(files: [first, second]) { $0 == "position_ids" ? nil : "clip." + $0 }
        #expect(loader.keys == ["clip.text.proj", "clip.visual.proj"])
        #expect(try loader.scoped("clip").scoped("text").tensor("proj", shape: [2]).scalars == [2, 2])
        #expect(loader.unusedKeys() == ["clip.visual.proj"])

        #expect(throws: TensorFileError.duplicateKey(file: second.path, key: "proj")) {
            _ = try WeightLoader(files: [first, second]) { $0.hasSuffix("proj") ? "proj" : nil }
        }
    }
}
