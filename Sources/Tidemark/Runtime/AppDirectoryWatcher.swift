// Notices app files being added, changed or removed, so `tidemark run` can switch apps
// without restarting the others.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Polls a directory (or one file) of app files for changes.
///
/// Plain `readdir` and `stat`: a process hosting a thousand apps rescans every couple of
/// seconds, and Foundation's attribute dictionaries made that most of its idle CPU.
package struct AppDirectoryWatcher {
    package let path: String
    private var fingerprint: [String: FileStamp] = [:]

    /// What tells one version of a file from the next: an edit in place changes the
    /// modification time or size, a replacement (editors, `mv`) the inode, `chmod` the
    /// status change time. A name that cannot be followed (a symbolic link loop, a dangling
    /// link) has only the error, so that it too counts as a change and its reload reports it.
    private struct FileStamp: Equatable {
        var seconds = 0
        var nanoseconds = 0
        var changeSeconds = 0
        var changeNanoseconds = 0
        var size: Int64 = 0
        var inode: UInt64 = 0
        var mode: UInt32 = 0
        var error: Int32 = 0
    }

    package init(path: String) {
        self.path = path
        fingerprint = Self.scan(path)
    }

    /// Whether any app file appeared, disappeared or was modified since the last call.
    package mutating func changed() -> Bool {
        let now = Self.scan(path)
        defer { fingerprint = now }
        return now != fingerprint
    }

    private static func scan(_ path: String) -> [String: FileStamp] {
        guard let top = stamp(path) else { return [:] }
        guard top.isDirectory else { return [path: top.stamp] }
        guard let directory = opendir(path) else { return [:] }
        defer { closedir(directory) }
        var result: [String: FileStamp] = [:]
        // Every entry the loader lists (ConfigSources), whatever it is: a directory, a FIFO or
        // a link that goes nowhere named like an app file is a problem the reload reports.
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
            let file = path.hasSuffix("/") ? path + name : path + "/" + name
            result[file] = stamp(file)?.stamp ?? FileStamp(error: errno)
        }
        return result
    }

    private static func stamp(_ path: String) -> (stamp: FileStamp, isDirectory: Bool)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let (modified, changed) = (info.st_mtimespec, info.st_ctimespec)
        #else
        let (modified, changed) = (info.st_mtim, info.st_ctim)
        #endif
        let stamp = FileStamp(
            seconds: Int(modified.tv_sec), nanoseconds: Int(modified.tv_nsec), changeSeconds: Int(changed.tv_sec),
            changeNanoseconds: Int(changed.tv_nsec), size: Int64(info.st_size), inode: UInt64(info.st_ino), mode: UInt32(info.st_mode))
        return (stamp, (info.st_mode & S_IFMT) == S_IFDIR)
    }
}
