import Foundation
import RethinkStubPackage
import Testing

/// The archive reader refuses what could escape or exhaust the stub's directory, and round-trips what
/// `rethinkctl stub pack` writes.
struct StubArchiveTests {
    private func gzipped(_ entries: [TarArchive.Entry]) -> [UInt8] {
        Gzip.compress(TarArchive(entries: entries).bytes())
    }

    private func open(_ bytes: [UInt8], limits: TarArchive.Limits = .init()) throws -> TarArchive {
        try TarArchive.read(Gzip.decompress(bytes, limit: limits.maxTotalBytes * 2), limits: limits)
    }

    @Test func packedArchiveRoundTripsFilesDirectoriesAndTheExecuteBit() throws {
        let entries = [
            TarArchive.Entry(path: "kit", kind: .directory),
            TarArchive.Entry(path: "kit/rethink_stub.py", bytes: Array("print(1)\n".utf8)),
            TarArchive.Entry(path: "main.py", executable: true, bytes: Array(repeating: 65, count: 700)),
            TarArchive.Entry(path: String(repeating: "d/", count: 60) + "deep.txt", bytes: [1, 2, 3]),
        ]
        let archive = try open(gzipped(entries))
        #expect(archive.entries == entries)
    }

    @Test func pathThatClimbsOutOfTheStubDirectoryIsRefused() {
        let bytes = gzipped([TarArchive.Entry(path: "ok/../../etc/passwd", bytes: [1])])
        let error = #expect(throws: PackageError.self) { try open(bytes) }
        #expect(error?.code == .unsafeEntry)
        #expect(error?.message.contains("leaves the stub's directory") == true)
    }

    @Test func absolutePathIsRefused() {
        let error = #expect(throws: PackageError.self) {
            try open(gzipped([TarArchive.Entry(path: "/etc/cron.d/x", bytes: [1])]))
        }
        #expect(error?.code == .unsafeEntry)
    }

    @Test func linksAndDeviceFilesAreRefused() throws {
        for type in ["1", "2", "3", "4", "6"] {
            var tar = TarArchive(entries: [TarArchive.Entry(path: "x", bytes: [])]).bytes()
            tar[156] = Character(type).asciiValue!
            tar.replaceSubrange(148..<156, with: Array(repeating: UInt8(ascii: " "), count: 8))
            let sum = tar[0..<512].reduce(0) { $0 + Int($1) }
            let digits = Array(String(sum, radix: 8).utf8)
            let field = Array(repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0]
            tar.replaceSubrange(148..<(148 + 7), with: field)
            #expect(throws: PackageError.self, "tar type \(type)") { try TarArchive.read(tar) }
        }
    }

    @Test func fileCountAndByteLimitsAreEnforced() {
        let many = (0..<20).map { TarArchive.Entry(path: "f\($0)", bytes: [1]) }
        let tooMany = #expect(throws: PackageError.self) {
            try open(gzipped(many), limits: .init(maxFiles: 10, maxTotalBytes: 1 << 20))
        }
        #expect(tooMany?.code == .tooLarge)
        let big = [TarArchive.Entry(path: "big", bytes: Array(repeating: 0, count: 1 << 20))]
        let bomb = #expect(throws: PackageError.self) { try Gzip.decompress(gzipped(big), limit: 64 * 1024) }
        #expect(bomb?.code == .tooLarge)
    }

    @Test func unpackWritesFilesAndRefusesToOverwrite() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("unpack-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let archive = TarArchive(entries: [
            .init(path: "a/b/c.py", bytes: Array("x".utf8)), .init(path: "run", executable: true, bytes: [1]),
        ])
        try archive.unpack(into: directory.path)
        #expect(FileManager.default.contents(atPath: directory.path + "/a/b/c.py") == Data("x".utf8))
        #expect(FileManager.default.isExecutableFile(atPath: directory.path + "/run"))
        #expect(throws: PackageError.self) { try archive.unpack(into: directory.path) }
    }

    @Test func signatureVerifiesOnlyWithTheTrustedKeyAndUntamperedBytes() throws {
        let (privateKey, publicKey) = PackageSignature.makeKeyPair()
        let (_, otherPublicKey) = PackageSignature.makeKeyPair()
        let package = Array("print('stub')\n".utf8)
        let signature = try PackageSignature.sign(package, privateKey: privateKey)
        let trusted = try PackageSignature.publicKey(publicKey)
        let other = try PackageSignature.publicKey(otherPublicKey)
        #expect(try PackageSignature.verify(package, signature: signature, trustedKeys: [other, trusted]) == 1)
        #expect(throws: PackageError.self) {
            try PackageSignature.verify(package + [10], signature: signature, trustedKeys: [trusted])
        }
        #expect(throws: PackageError.self) {
            try PackageSignature.verify(package, signature: signature, trustedKeys: [other])
        }
        #expect(throws: PackageError.self) {
            try PackageSignature.verify(package, signature: nil, trustedKeys: [trusted])
        }
    }
}
