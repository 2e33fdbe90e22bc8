import Foundation

/// The `regionspot` executable SwiftPM built beside this test bundle, run as a child process.
enum Executable {
    static var url: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while directory.pathComponents.count > 1 && !directory.lastPathComponent.hasSuffix(".xctest") {
            directory.deleteLastPathComponent()
        }
        return directory.deletingLastPathComponent().appendingPathComponent("regionspot")
    }

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs `regionspot arguments…` with `environment` changes applied (nil removes a variable).
    static func run(_ arguments: [String], environment changes: [String: String?] = [:]) throws -> Result {
        try run(program: url, arguments, environment: changes)
    }

    /// Runs another program the same way (protoc, a Python client).
    static func run(program: URL, _ arguments: [String], environment changes: [String: String?] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
                      standardError: String(decoding: errData, as: UTF8.self))
    }
}
