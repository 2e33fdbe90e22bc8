import Foundation
import PipelineProtocol
import Testing
import TestSupport

/// `serve --image-root DIR`: requests may name images by `image_path` under DIR, symbolic links
/// resolved; anything else is PERMISSION_DENIED naming the path, and a missing file NOT_FOUND.
extension ServeTests {
    @Test func imagePathsAreServedOnlyUnderTheImageRoot() throws {
        let fixture = try DaemonFixture()
        let files = FileManager.default
        let root = fixture.directory.appendingPathComponent("images")
        try files.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try files.copyItem(at: TinyBundle.image, to: root.appendingPathComponent("inside.png"))
        try files.copyItem(at: TinyBundle.image, to: fixture.directory.appendingPathComponent("outside.png"))
        try files.createSymbolicLink(atPath: root.appendingPathComponent("link-inside.png").path, withDestinationPath: "inside.png")
        try files.createSymbolicLink(atPath: root.appendingPathComponent("escape.png").path,
                                     withDestinationPath: fixture.directory.appendingPathComponent("outside.png").path)
        try files.createSymbolicLink(atPath: root.appendingPathComponent("escape-dir").path, withDestinationPath: fixture.directory.path)
        try fixture.serve(pipeline: fixture.pipeline(), extra: ["--image-root", root.path])

        let byBytes = try fixture.call(fixture.recognizeRequest()).recognize
        try fixture.expectOK(byBytes)
        func byPath(_ path: String) throws -> Regionspot_V1_RecognizeReply {
            var request = try fixture.recognizeRequest()
            request.recognize.imagePath = path
            return try fixture.call(request).recognize
        }
        for path in [root.appendingPathComponent("inside.png").path, "inside.png", "sub/../link-inside.png"] {
            let reply = try byPath(path)
            #expect(reply.status.code == .ok, "\(path): \(reply.status)")
            #expect(reply.regions == byBytes.regions, "\(path)")
        }
        let refused: [(String, Regionspot_V1_Code)] = [
            (fixture.directory.appendingPathComponent("outside.png").path, .permissionDenied),
            ("../outside.png", .permissionDenied),
            ("escape.png", .permissionDenied),
            ("escape-dir/outside.png", .permissionDenied),
            ("/nonexistent/outside.png", .permissionDenied),  // outside: not told whether it exists
            ("sub", .permissionDenied),
            ("missing.png", .notFound),
            ("sub/missing.png", .notFound),
        ]
        for (path, code) in refused {
            let reply = try byPath(path)
            #expect(reply.status.code == code && reply.status.message.hasPrefix("image_path: '\(path)'"), "\(path): \(reply.status)")
        }
    }
}
