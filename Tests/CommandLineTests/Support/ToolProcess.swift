// The `tidemark` binary as a child process: found next to the test bundle, started with
// pipes, read line by line, stopped with a signal; every wait ends at a deadline.
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Why a test step could not go on: a deadline passed, a child died, output made no sense.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Waits until `condition` holds, checking every 50 ms; throws `TestFailure` at the deadline.
func waitUntil(_ what: @autoclosure () -> String, within limit: Duration, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + limit
    while try !condition() {
        if ContinuousClock.now > deadline { throw TestFailure(description: "timed out after \(limit): \(what())") }
        usleep(50_000)
    }
}

/// Where `swift build` put the `tidemark` executable these tests run.
func tidemarkBinary() throws -> URL {
    let filePath = #filePath
    let fileManager = FileManager.default
    // The test bundle lives in the products directory, next to the executable.
    let besideBundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("tidemark")
    if fileManager.isExecutableFile(atPath: besideBundle.path) { return besideBundle }
    var directory = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent(".build/debug/tidemark")
        if fileManager.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw TestFailure(description: "no tidemark executable beside \(besideBundle.path) nor in any .build/debug above \(filePath)")
}

/// The repository root (for `topics/` and `apps/`): this file is Tests/CommandLineTests/Support/ToolProcess.swift.
func repositoryRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

/// Bytes a child wrote to one of its pipes, collected by a reader thread.
final class CollectedOutput: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    private let ended = Atomic<Bool>(false)

    init(reading handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                bytes.withLock { $0.append(contentsOf: data) }
            }
            ended.store(true, ordering: .releasing)
        }
        thread.start()
    }

    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
    var isEnded: Bool { ended.load(ordering: .acquiring) }

    /// Complete lines written so far.
    var lines: [String] {
        let text = self.text
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the unterminated rest (often empty)
        return lines
    }
}

/// A running `tidemark` command. Killed on deinit if still running.
final class ToolProcess {
    let arguments: [String]
    private let process = Process()
    let stdout: CollectedOutput
    let stderr: CollectedOutput

    /// Starts `tidemark arguments…` in `directory`.
    init(_ arguments: [String], in directory: URL? = nil) throws {
        self.arguments = arguments
        process.executableURL = try tidemarkBinary()
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        stdout = CollectedOutput(reading: out.fileHandleForReading)
        stderr = CollectedOutput(reading: err.fileHandleForReading)
    }

    deinit { kill() }

    var isRunning: Bool { process.isRunning }

    /// The first line the child writes to stdout.
    func firstLine(within limit: Duration = .seconds(20)) throws -> String {
        try waitUntil("first line of tidemark \(arguments.joined(separator: " ")); stderr: \(stderr.text)", within: limit) {
            !stdout.lines.isEmpty || !process.isRunning
        }
        guard let line = stdout.lines.first else {
            throw TestFailure(description: "tidemark \(arguments.first ?? "") exited without a line; stderr: \(stderr.text)")
        }
        return line
    }

    /// Sends `signal` (SIGTERM by default) and waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, within limit: Duration = .seconds(30)) throws -> Int32 {
        send(signal)
        return try waitForExit(within: limit)
    }

    /// Sends `signal` without waiting.
    func send(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits for the child to exit on its own; kills it at the deadline.
    @discardableResult
    func waitForExit(within limit: Duration = .seconds(60)) throws -> Int32 {
        do {
            try waitUntil("exit of tidemark \(arguments.joined(separator: " ")); stderr: \(stderr.text.suffix(2000))", within: limit) {
                !process.isRunning
            }
        } catch {
            kill()
            throw error
        }
        // The reader threads see end of file once the child (and its pipes) are gone.
        try? waitUntil("pipes of tidemark to close", within: .seconds(5)) { stdout.isEnded && stderr.isEnded }
        if process.terminationReason == .uncaughtSignal {
            throw TestFailure(description: "tidemark \(arguments.first ?? "") died of signal \(process.terminationStatus); \(crashReport)")
        }
        return process.terminationStatus
    }

    /// Whether the child has begun a crash report (it may still be writing it).
    var hasCrashed: Bool {
        let text = stderr.text
        return text.contains("Program crashed") || text.contains("Fatal error")
    }

    /// What a crashed child wrote: the log lines before the crash, the runtime's message, and
    /// the crashed thread's backtrace (Swift's report lists every thread; the rest is left out).
    var crashReport: String {
        let text = stderr.text
        guard let crash = text.range(of: "Fatal error") ?? text.range(of: "Program crashed") else {
            return "stderr: \(text.suffix(2000))"
        }
        let thread = text.range(of: " crashed:\n", range: crash.lowerBound..<text.endIndex).map { found in
            let lineStart = text[..<found.lowerBound].lastIndex(of: "\n").map(text.index(after:)) ?? found.lowerBound
            return text[lineStart...].prefix(4000)
        }
        // The runtime's complaints about threads it could not stop would push out the log.
        let before = text[..<crash.lowerBound].split(separator: "\n").filter { !$0.hasPrefix("swift-runtime: failed to suspend") }
        return "stderr before the crash: \(before.suffix(12).joined(separator: "\n").suffix(2500))\ncrash: \(text[crash.lowerBound...].prefix(300))"
            + "\n\(thread ?? "(no crashed thread in the report)")"
    }

    /// SIGKILL, for cleanup only.
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        try? waitUntil("killed child", within: .seconds(5)) { !process.isRunning }
    }
}

/// Runs `tidemark arguments…` to completion.
func runTool(_ arguments: [String], in directory: URL? = nil, within limit: Duration = .seconds(60)) throws
    -> (status: Int32, stdout: String, stderr: String)
{
    let tool = try ToolProcess(arguments, in: directory)
    let status = try tool.waitForExit(within: limit)
    return (status, tool.stdout.text, tool.stderr.text)
}

/// A fresh directory, removed by `remove()`.
struct ScratchDirectory {
    let url: URL

    init(_ name: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tidemark-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }

    func read(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: url.appendingPathComponent(name)), as: UTF8.self)
    }

    func lines(_ name: String) throws -> [String] {
        try read(name).split(separator: "\n").map(String.init)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
