// Which files a loader reads for a path: the file itself, or the YAML files of a directory,
// with each problem named in words and the path.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the YAML files a loader takes: one file, or every `*.yaml`/`*.yml` file of a
/// directory (sorted by name, not recursive).
enum ConfigSources {
    /// The YAML files `path` stands for: itself, or the `*.yaml`/`*.yml` entries of the
    /// directory it names, sorted. Throws when `path` does not exist, cannot be listed, or
    /// holds no YAML file.
    ///
    /// - Parameter kind: what the files hold, for messages, e.g. "app files".
    static func files(path: String, kind: String) throws(ConfigErrors) -> [String] {
        func failure(_ message: String) -> ConfigErrors {
            ConfigErrors([ConfigError(file: path, line: nil, column: nil, message: message)])
        }
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw failure(errno == ENOENT ? "no such file or directory" : ConfigFile.describe(errno: errno))
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { return [path] }
        guard let directory = opendir(path) else { throw failure("cannot list directory: \(ConfigFile.describe(errno: errno))") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".yaml") || name.hasSuffix(".yml") { names.append(name) }
        }
        guard !names.isEmpty else { throw failure("no \(kind) (*.yaml, *.yml) in this directory") }
        return names.sorted().map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
    }

    /// The files' text, with a diagnostic for each file that cannot be read. Throws when
    /// `path` does not exist, cannot be listed, or holds no YAML file.
    ///
    /// - Parameter kind: what the files hold, for messages, e.g. "app files".
    static func read(path: String, kind: String) throws(ConfigErrors) -> (
        sources: [(file: String, yaml: String)], errors: [ConfigError]
    ) {
        var sources: [(file: String, yaml: String)] = []
        var errors: [ConfigError] = []
        for file in try files(path: path, kind: kind) {
            switch ConfigFile.read(file) {
            case .success(let text): sources.append((file, text))
            case .failure(let error): errors.append(error)
            }
        }
        return (sources, errors)
    }
}
