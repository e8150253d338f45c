// Child processes for benchmarks that must measure one process alone: starting, reading the
// first line, scraping /metrics, and reading memory and CPU time from /proc.
import ArgumentParser
import Foundation
import Glibc
import TidemarkTestSupport

/// A `tidemark` child process, stopped with SIGTERM.
final class ChildProcess {
    private let process = Process()
    private let output = Pipe()
    /// Where the child serves /metrics, if it was given `--metrics 127.0.0.1:0` (replaced by a free port).
    private(set) var metricsPort: Int?

    init(_ executable: String, _ arguments: [String]) throws {
        var arguments = arguments
        if let index = arguments.firstIndex(of: "127.0.0.1:0") {
            let port = try freeLoopbackPort()
            arguments[index] = "127.0.0.1:\(port)"
            metricsPort = port
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// The first line the child prints. Without one within `limit` the child is killed
    /// (SIGKILL: a broker still creating its topics does not yet act on SIGTERM) and this throws.
    func firstLine(within limit: Duration) throws -> String {
        let descriptor = output.fileHandleForReading.fileDescriptor
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + limit
        while true {
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { return String(decoding: bytes[..<newline], as: UTF8.self) }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                kill()
                throw ValidationError("tidemark \(name) printed no line within \(limit): killed it")
            }
            // Waits for output or the deadline, never longer: a read alone would block.
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(min((remaining / .milliseconds(1)).rounded(.up), 60_000))) > 0 else { continue }
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ValidationError("tidemark \(name) exited without printing a line") }
            bytes += buffer[..<count]
        }
    }

    /// Kills the child at once (SIGKILL) and waits for it.
    func kill() {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    private var name: String { process.arguments?.first ?? "child" }

    func waitForExit(within limit: Duration) throws {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw ValidationError("child did not finish in time") }
            usleep(50_000)
        }
        guard process.terminationStatus == 0 else { throw ValidationError("child exited with \(process.terminationStatus)") }
    }

    /// The value of one sample line of the child's /metrics, e.g. `name{label="x"}`.
    func metric(_ sample: String) throws -> Int {
        guard let port = metricsPort else { throw ValidationError("the child serves no metrics") }
        let text = httpGet(port: port, path: "/metrics")?.body ?? ""
        return metricValue(sample, in: text).map { Int($0) } ?? 0
    }

    /// Waits until a metric exceeds `threshold`; returns its value then.
    func awaitMetric(_ sample: String, above threshold: Int, timeout: Duration) throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let value = try metric(sample)
            if value > threshold { return value }
            usleep(100_000)
        }
        throw ValidationError("\(sample) stayed at or below \(threshold)")
    }
}

/// Memory and CPU of a process, from /proc.
enum ProcessStats {
    static func residentMegabytes(pid: Int32) throws -> Double {
        try statusMegabytes(pid: pid, "VmRSS:")
    }

    /// The most the process was resident so far.
    static func peakResidentMegabytes(pid: Int32) throws -> Double {
        try statusMegabytes(pid: pid, "VmHWM:")
    }

    private static func statusMegabytes(pid: Int32, _ field: String) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { throw ValidationError("no \(field) for \(pid)") }
        return kilobytes / 1024
    }

    /// CPU time (user + system) used over `duration`, as a share of one core.
    static func cpuShare(pid: Int32, over duration: Duration) throws -> Double {
        let before = try cpuTicks(pid)
        let started = ContinuousClock.now
        Thread.sleep(forTimeInterval: BenchSupport.seconds(duration))
        let elapsed = BenchSupport.seconds(ContinuousClock.now - started)
        let used = Double(try cpuTicks(pid) - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
        return used / elapsed
    }

    private static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!  // utime, stime
    }
}
