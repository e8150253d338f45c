// Reads one configuration file as UTF-8 text, saying in words what is wrong with a path that
// is not one: missing, a directory, a FIFO or device, unreadable, too large, or not UTF-8.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `read(2)`, named apart from `ConfigFile.read`.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

enum ConfigFile {
    /// The largest configuration file read. App and topic files are a few kilobytes; the bound
    /// keeps a stray log or image in the directory from costing the reload loop gigabytes.
    static let maxBytes = 1 << 20

    /// The text of the file at `path`, or the diagnostic that names why it cannot be used.
    static func read(_ path: String) -> Result<String, ConfigError> {
        func failure(_ message: String, line: Int? = nil, column: Int? = nil) -> Result<String, ConfigError> {
            .failure(ConfigError(file: path, line: line, column: column, message: message))
        }
        // Non-blocking, so a FIFO named like an app file cannot stall the open.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            var link = stat()
            if code == ENOENT, lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK {
                return failure("a symbolic link to a file that does not exist")
            }
            return failure(Self.describe(errno: code))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return failure(Self.describe(errno: errno)) }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return failure("is a directory, not a YAML file")
        default: return failure("not a regular file (a FIFO, socket or device)")
        }
        guard Int(status.st_size) <= maxBytes else {
            return failure("file too large: \(status.st_size) bytes; configuration files are at most 1 MiB")
        }
        var bytes: [UInt8] = Array(repeating: 0, count: Int(status.st_size) + 1)
        var count = 0
        while count < bytes.count {
            let read = bytes.withUnsafeMutableBytes { buffer in
                systemRead(descriptor, buffer.baseAddress! + count, buffer.count - count)
            }
            if read < 0 {
                if errno == EINTR { continue }
                return failure(Self.describe(errno: errno))
            }
            if read == 0 { break }
            count += read
            // The file grew while being read.
            if count == bytes.count && count <= maxBytes { bytes.append(contentsOf: repeatElement(0, count: 4096)) }
            if count > maxBytes { return failure("file too large: over \(maxBytes) bytes; configuration files are at most 1 MiB") }
        }
        bytes.removeLast(bytes.count - count)
        if let text = String(validating: bytes, as: UTF8.self) { return .success(text) }
        let (line, column, byte) = Self.firstInvalidUTF8(bytes)
        return failure(
            "not UTF-8 text (byte 0x\(String(byte, radix: 16, uppercase: true)) here); configuration files are UTF-8 YAML",
            line: line, column: column)
    }

    /// Where the first byte that is not part of valid UTF-8 sits: 1-based line and column in
    /// Unicode scalars (the unit YAML positions use), and the byte itself.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (line: Int, column: Int, byte: UInt8) {
        var line = 1
        var column = 1
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                return (line, column, 0)
            case .error:
                return (line, column, bytes[min(offset, bytes.count - 1)])
            }
        }
    }

    static func describe(errno code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied"
        case ELOOP: "too many levels of symbolic links"
        case ENOTDIR: "a component of the path is not a directory"
        default: String(cString: strerror(code))
        }
    }
}
