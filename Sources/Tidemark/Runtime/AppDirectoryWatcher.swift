// Notices app files being added, changed or removed, so `tidemark run` can switch apps
// without restarting the others.
import Foundation

/// Polls a directory (or one file) of app files for changes.
struct AppDirectoryWatcher {
    let path: String
    private var fingerprint: [String: Date] = [:]

    init(path: String) {
        self.path = path
        fingerprint = Self.scan(path)
    }

    /// Whether any app file appeared, disappeared or was modified since the last call.
    mutating func changed() -> Bool {
        let now = Self.scan(path)
        defer { fingerprint = now }
        return now != fingerprint
    }

    private static func scan(_ path: String) -> [String: Date] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return [:] }
        let files =
            isDirectory.boolValue
            ? ((try? manager.contentsOfDirectory(atPath: path)) ?? [])
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .map { (path as NSString).appendingPathComponent($0) }
            : [path]
        var result: [String: Date] = [:]
        for file in files {
            result[file] = (try? manager.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? .distantPast
        }
        return result
    }
}
