// The app directory watcher behind hot reload: which file system changes it reports.
import Foundation
import Testing
import Tidemark

@Suite struct AppDirectoryWatcherTests {
    @Test func addingEditingReplacingAndRemovingAnAppFileAreChangesOtherFilesAreNot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("watcher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let app = directory.appendingPathComponent("a.yaml")
        var watcher = AppDirectoryWatcher(path: directory.path)
        func changed() -> Bool { watcher.changed() }
        #expect(!changed())

        try "app: a\n".write(to: app, atomically: false, encoding: .utf8)
        #expect(changed(), "a new app file")
        #expect(!changed(), "nothing since the last look")

        let handle = try FileHandle(forWritingTo: app)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("# edited in place\n".utf8))
        try handle.close()
        #expect(changed(), "an edit in place")

        let replacement = directory.appendingPathComponent("a.yaml.tmp")
        try "app: a\n".write(to: replacement, atomically: false, encoding: .utf8)
        #expect(!changed(), "a file that is not YAML")
        #expect(rename(replacement.path, app.path) == 0)
        #expect(changed(), "a replacement by rename")

        try "notes".write(to: directory.appendingPathComponent("README.txt"), atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("old"), withIntermediateDirectories: true)
        #expect(!changed(), "other files and directories")
        // The loader refuses a directory named like an app file, so its reload must report it.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("old.yaml"), withIntermediateDirectories: true)
        #expect(changed(), "a directory named like an app file")

        try FileManager.default.removeItem(at: app)
        #expect(changed(), "a removed app file")
        #expect(!changed())
    }

    @Test("a symbolic link loop, a dangling link and a permission change are changes: the reload after them reports each")
    func namesThatCannotBeReadAreChanges() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("watcher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "app: a\n".write(to: directory.appendingPathComponent("a.yaml"), atomically: false, encoding: .utf8)
        var watcher = AppDirectoryWatcher(path: directory.path)
        func changed() -> Bool { watcher.changed() }
        #expect(!changed())

        #expect(symlink("loop.yaml", directory.appendingPathComponent("loop.yaml").path) == 0)
        #expect(changed(), "a link to itself")
        #expect(!changed())
        #expect(symlink("nowhere.yaml", directory.appendingPathComponent("dangling.yaml").path) == 0)
        #expect(changed(), "a link to nothing")
        #expect(chmod(directory.appendingPathComponent("a.yaml").path, 0o000) == 0)
        #expect(changed(), "a file made unreadable")
        #expect(!changed())
    }

    @Test func aSingleAppFileIsWatchedByItself() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("watcher-\(UUID().uuidString).yaml")
        try "app: a\n".write(to: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var watcher = AppDirectoryWatcher(path: file.path)
        func changed() -> Bool { watcher.changed() }
        #expect(!changed())
        try "app: b\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(changed())
        try FileManager.default.removeItem(at: file)
        #expect(changed(), "the file is gone")
    }
}
