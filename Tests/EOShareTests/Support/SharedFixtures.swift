import Foundation

/// The fixtures shared by the project's packages: `../shared/fixtures` beside the repository
/// root, found from this file's path so the tests run from any working directory.
enum SharedFixtures {
    /// `<repository>/../shared/fixtures`.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // EOShareTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the repository
        .deletingLastPathComponent()  // its parent
        .appendingPathComponent("shared", isDirectory: true)
        .appendingPathComponent("fixtures", isDirectory: true)

    /// A file or folder under the fixtures root.
    static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    /// The bytes of a fixture file.
    static func bytes(_ relativePath: String) throws -> [UInt8] {
        Array(try Data(contentsOf: url(relativePath)))
    }

    /// The names of the regular files in a fixture folder, sorted; empty when it is absent.
    static func fileNames(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url(folder).path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }
}
