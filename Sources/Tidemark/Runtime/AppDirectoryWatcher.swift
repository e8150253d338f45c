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
    /// modification time or size, a replacement (editors, `mv`) the inode.
    private struct FileStamp: Equatable {
        var seconds: Int
        var nanoseconds: Int
        var size: Int64
        var inode: UInt64
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
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
            let file = path.hasSuffix("/") ? path + name : path + "/" + name
            if let found = stamp(file), !found.isDirectory { result[file] = found.stamp }
        }
        return result
    }

    private static func stamp(_ path: String) -> (stamp: FileStamp, isDirectory: Bool)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        let stamp = FileStamp(
            seconds: Int(modified.tv_sec), nanoseconds: Int(modified.tv_nsec), size: Int64(info.st_size),
            inode: UInt64(info.st_ino))
        return (stamp, (info.st_mode & S_IFMT) == S_IFDIR)
    }
}
