import Foundation
import ZeroMQ

/// CURVE key files as `regionspot keys generate` writes them: `NAME.public` holds the public key
/// and `NAME.secret` (mode 0600) the secret one, each as 40 Z85 characters on a line; lines
/// starting with `#` are comments. A secret file is enough for a key pair: the public half is
/// derived from it.
enum CurveKeyFiles {
    static let publicExtension = "public"
    static let secretExtension = "secret"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The one key in `path`, or an error naming the file.
    static func key(at path: String) throws -> CurveKey {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure(description: "\(path): cannot read the key file (\(error.localizedDescription))")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard lines.count == 1 else { throw Failure(description: "\(path): expected one Z85 key line, found \(lines.count)") }
        do { return try CurveKey(z85: lines[0]) } catch {
            throw Failure(description: "\(path): not a CURVE key (\(error))")
        }
    }

    /// The key pair whose secret half is in `path`.
    static func keyPair(secretAt path: String) throws -> CurveKeyPair {
        let secret = try key(at: path)
        return CurveKeyPair(publicKey: try CurveKey(publicKeyFor: secret), secretKey: secret)
    }

    /// The public keys in `directory`'s `*.public` files (hidden files skipped).
    static func allowedKeys(in directory: String) throws -> Set<CurveKey> {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw Failure(description: "\(directory): cannot list the allowed client keys (\(error.localizedDescription))")
        }
        let files = names.filter { !$0.hasPrefix(".") && $0.hasSuffix(".\(publicExtension)") }.sorted()
        return Set(try files.map { try key(at: (directory as NSString).appendingPathComponent($0)) })
    }

    /// Writes a new pair as `directory/NAME.public` and `directory/NAME.secret`; refuses to replace either.
    static func write(_ pair: CurveKeyPair, name: String, into directory: String) throws -> (publicPath: String, secretPath: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let base = (directory as NSString).appendingPathComponent(name)
        let publicPath = "\(base).\(publicExtension)", secretPath = "\(base).\(secretExtension)"
        for path in [publicPath, secretPath] where FileManager.default.fileExists(atPath: path) {
            throw Failure(description: "\(path): exists already; not replaced (remove it, or choose another --name)")
        }
        // The secret is created with mode 0600, so it is never readable by others, even for a moment.
        try create(secretPath, mode: 0o600, text: "# CURVE secret key (regionspot keys generate); keep it private\n\(pair.secretKey.z85)\n")
        try create(publicPath, mode: 0o644, text: "# CURVE public key (regionspot keys generate)\n\(pair.publicKey.z85)\n")
        return (publicPath, secretPath)
    }

    private static func create(_ path: String, mode: mode_t, text: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure(description: "\(path): cannot create (\(String(cString: strerror(errno))))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }
}
