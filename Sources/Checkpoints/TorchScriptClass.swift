import Foundation

/// What a TorchScript archive declares about a module class: the attribute names that are
/// parameters or buffers. Read from the class headers in `code/` (`__parameters__ = [...]`,
/// `__buffers__ = [...]`), which is plain text; the code itself is never run. With it, a
/// scripted module yields exactly its `state_dict()` keys and skips plain tensor attributes
/// such as OpenAI CLIP's `attn_mask`.
struct TorchScriptClass {
    var stateNames: Set<String> = []

    /// Declarations by qualified class name (`__torch__.torch.nn.modules.linear.Linear`).
    static func declarations(in archive: ZipArchive, prefix: String) throws -> [String: TorchScriptClass] {
        let codePrefix = prefix + "code/"
        var result: [String: TorchScriptClass] = [:]
        for entry in archive.entries where entry.name.hasPrefix(codePrefix) && entry.name.hasSuffix(".py") {
            let path = entry.name.dropFirst(codePrefix.count).dropLast(3)
            let module = path.replacingOccurrences(of: "/", with: ".")
            let text = try archive.contents(of: entry, verifyChecksum: false).withBytes { String(decoding: $0, as: UTF8.self) }
            var current: String?
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("class ") {
                    let name = line.dropFirst(6).prefix { $0 != "(" && $0 != ":" }
                    current = module + "." + name
                    result[current!] = TorchScriptClass()
                } else if !line.hasPrefix(" ") {
                    current = nil
                } else if let current {
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.hasPrefix("__parameters__ =") || trimmed.hasPrefix("__buffers__ =") {
                        result[current]!.stateNames.formUnion(quotedNames(in: trimmed))
                    }
                }
            }
        }
        return result
    }

    /// The double-quoted strings of a list literal.
    private static func quotedNames(in line: String) -> [String] {
        line.split(separator: "\"", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}
