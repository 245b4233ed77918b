import Foundation
import RethinkCatalogue
import RethinkMessages
import RethinkSandbox
import Testing

@testable import RethinkRuntimeUA

/// Where a Python stub looks for modules, by the form of its package: a single file sees no directory of
/// its own (searching one would be a Landlock refusal at every start), a package directory is searched first.
struct StubPackagerTests {
    static let domain = DomainKey("acme.example")!

    /// A scratch catalogue with `stub.py` under `root`, a state directory beside it, and the packager over them.
    static func fixture(_ root: String) throws -> (catalogue: String, packager: StubPackager) {
        let catalogue = root + "/catalogue"
        try FileManager.default.createDirectory(atPath: catalogue, withIntermediateDirectories: true)
        try Data("print('stub')\n".utf8).write(to: URL(fileURLWithPath: catalogue + "/stub.py"))
        let packager = StubPackager(
            stateDirectory: root + "/state", interpreters: [.python: "/usr/bin/python3"], pythonPath: ["/opt/kit"])
        return (catalogue, packager)
    }

    static func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("packager-\(UUID().uuidString)").path
    }

    static func descriptor(in catalogue: String) throws -> Descriptor {
        let json: JSONValue = .object([
            ("objectName", .string("stub")), ("version", .string("1")), ("language", .string("python")),
            ("sourcePackageURL", .string("stub.py")),
        ])
        return try Descriptor.parse(
            json.jsonBytes, domain: domain, origin: catalogue + "/acme.example.json", directory: catalogue,
            binariesDirectory: nil)
    }

    @Test func aSingleFilePythonStubSearchesTheKitOnlyAndNotItsScriptsDirectory() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is needed")
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (catalogue, packager) = try Self.fixture(root)
        let prepared = try packager.prepare(
            try Self.descriptor(in: catalogue), stubURL: "hyperty-runtime://acme.example/protostub/1",
            runtimeURL: "hyperty-runtime://runtime.test/1")
        #expect(prepared.packageFile?.hasSuffix("/catalogue/stub.py") == true)
        #expect(prepared.environment["PYTHONPATH"] == "/opt/kit")
        #expect(prepared.environment["PYTHONSAFEPATH"] == "1")
    }

    @Test func aFetchedPackageDirectoryComesFirstOnItsOwnPythonPath() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is needed")
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (catalogue, packager) = try Self.fixture(root)
        let fetched = catalogue + "/unpacked/main.py"
        try FileManager.default.createDirectory(atPath: catalogue + "/unpacked", withIntermediateDirectories: true)
        try Data("import helper\n".utf8).write(to: URL(fileURLWithPath: fetched))
        let prepared = try packager.prepare(
            try Self.descriptor(in: catalogue), packagePath: fetched,
            stubURL: "hyperty-runtime://acme.example/protostub/1", runtimeURL: "hyperty-runtime://runtime.test/1")
        #expect(prepared.packageFile == nil)
        #expect(prepared.environment["PYTHONPATH"] == catalogue + "/unpacked:/opt/kit")
        #expect(prepared.environment["PYTHONSAFEPATH"] == nil)
    }
}
