import Foundation
import SystemPackage
import Testing

@testable import RethinkCatalogue

/// `FilePath.standardized()` stands in for Foundation's `standardizingPath` in a descriptor's package path and
/// the configuration's relative paths.
struct FilePathStandardizedTests {
    @Test(arguments: [
        ("/nonexistent-rethink/a/./b//c/", "/nonexistent-rethink/a/b/c"),
        ("/nonexistent-rethink/a/../b", "/nonexistent-rethink/b"),
        ("/..", "/"),
        ("/../nonexistent-rethink", "/nonexistent-rethink"),
        ("/", "/"),
    ])
    func dotsAndDoubledSlashesGoInAnAbsolutePath(path: String, standardized: String) {
        #expect(FilePath(path).standardized().string == standardized)
    }

    /// Foundation keeps a relative path's `..`: what they cancel depends on the working directory.
    @Test func aRelativePathKeepsItsParentSteps() {
        #expect(FilePath("a/./b/../c").standardized().string == "a/b/../c")
        #expect(FilePath("../a").standardized().string == "../a")
    }

    /// A link is resolved before `..` applies, so `link/../x` names what opening it would reach, not `x` beside
    /// the link; a missing tail is kept as written, below the resolved part.
    @Test func symbolicLinksAreResolvedBeforeParentSteps() throws {
        let base = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base + "/deep/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: "deep/real")

        #expect(FilePath(base + "/link").standardized().string == base + "/deep/real")
        #expect(FilePath(base + "/link/../x").standardized().string == base + "/deep/x")
        #expect(FilePath(base + "/link/missing/../y").standardized().string == base + "/deep/real/y")
        #expect(FilePath(base + "/link/missing/file").standardized().string == base + "/deep/real/missing/file")
    }

    /// A fresh directory named without links (the temporary directory may itself be one).
    private static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rethink-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        return path.resolvingSymlinksInPath().path
    }
}
