import Foundation
import Imaging
import Testing
import TestSupport
import Tensors
@testable import CLIP

private let expected = try! SafeTensorsFile(url: fixtures.appendingPathComponent("clip_preprocessing.safetensors"))

private func image(_ name: String) throws -> RGBImage {
    let t = try expected.tensor(named: name)   // [H, W, 3] bytes stored as floats
    return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.scalars.map { UInt8($0) })
}

@Test func regionSpotSquashMatchesInterpolate() throws {
    let landscape = try image("image")
    for size in [24, 64] {
        let ours = CLIPPreprocessing.squashed(landscape, size: size)
        #expect(maxDifference(ours, try expected.tensor(named: "squashed_\(size)")) < 1e-5)
    }
}

@Test func openAIPreprocessingMatchesTorchvision() throws {
    #expect(maxDifference(CLIPPreprocessing.openAI(try image("image"), size: 24), try expected.tensor(named: "openai_24")) < 1e-5)
    // Portrait 29×61 → 20×42: Pillow runs the vertical pass first here (the height shrinks by more
    // than twice the width's shrink), which pilResized follows.
    let tall = CLIPPreprocessing.openAI(try image("tall"), size: 20)
    #expect(maxDifference(tall, try expected.tensor(named: "openai_tall_20")) < 1e-5)
}
