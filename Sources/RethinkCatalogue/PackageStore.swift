import Crypto
import FoundationEssentials
import Glibc
import RethinkMessages
import RethinkStubPackage
import SystemPackage

/// Verified network packages, cached by hash in `<state-dir>/packages/<sha256>/`.
///
/// A package is checked before anything is written: its SHA-256 against the descriptor's `sha256`, then,
/// when the operator trusts signing keys, its Ed25519 `signature`. A single file is stored as it is; a
/// tar.gz archive is unpacked there, entry by entry checked (see `TarArchive`). The directory appears under
/// its final name only once complete (written beside it, then renamed), so a later deploy of the same
/// package finds it ready and needs no network, and two versions of a stub can run side by side during a
/// rollover.
public struct PackageStore: Sendable {
    let directory: String
    /// The trusted keys' raw bytes (swift-crypto's key type is not `Sendable`).
    private let trustedKeyBytes: [Data]
    var trustedKeys: [Curve25519.Signing.PublicKey] {
        trustedKeyBytes.compactMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }
    }
    let limits: TarArchive.Limits

    /// The mode that lets stub uids pass through a directory on the way to their package (but not list it):
    /// o+x added to what it has.
    public static func traversableMode(of path: String) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0o711 }
        return (info.st_mode & 0o7777) | 0o011
    }

    public init(stateDirectory: String, configuration: DiscoveryConfiguration) throws(DeploymentFailure) {
        directory = FilePath(stateDirectory).appending("packages").string
        var keys: [Data] = []
        for key in configuration.trustedKeys {
            do {
                keys.append(try PackageSignature.publicKey(key).rawRepresentation)
            } catch {
                throw DeploymentFailure(.unsupported, "discovery.trustedKeys: \(error.message)")
            }
        }
        trustedKeyBytes = keys
        limits = TarArchive.Limits(
            maxFiles: configuration.maxArchiveFiles, maxTotalBytes: configuration.maxUnpackedBytes)
    }

    /// The runnable file of an already verified package, or nil when it is not cached. With trusted keys,
    /// the descriptor's signature is checked against the package bytes kept beside the cache entry, so a
    /// cached package is not run under a descriptor whose signature would not verify.
    ///
    /// Checked at every deploy, over what will run: the raw package kept beside the entry must hash to the
    /// descriptor's `sha256` (and carry its signature), and the entry's directory must hold exactly the
    /// package's files with exactly its bytes. An entry that does not (altered, or planted by someone other
    /// than the daemon) is removed, and the package fetched again.
    func cachedEntry(for descriptor: Descriptor) throws(DeploymentFailure) -> String? {
        guard let sha256 = descriptor.sha256, let entry = existingEntry(for: descriptor, sha256: sha256) else {
            return nil
        }
        guard let raw = FileManager.default.contents(atPath: rawPath(sha256)).map(Array.init),
            PackageSignature.sha256Hex(raw) == sha256, treeMatches(raw, descriptor: descriptor, sha256: sha256)
        else {
            discard(sha256)
            return nil
        }
        try checkSignature(raw, descriptor: descriptor, source: "the cached package \(sha256)")
        return entry
    }

    /// Whether `<packages>/<sha256>/` holds exactly the files of `raw` (an archive's entries, or the one
    /// file), byte for byte, and nothing else.
    func treeMatches(_ raw: [UInt8], descriptor: Descriptor, sha256: String) -> Bool {
        let root = FilePath(directory).appending(sha256).string
        var expected: [String: [UInt8]] = [:]
        if Gzip.isGzip(raw) {
            guard let tar = try? Gzip.decompress(raw, limit: limits.maxTotalBytes),
                let archive = try? TarArchive.read(tar, limits: limits)
            else { return false }
            for entry in archive.entries where entry.kind == .file {
                guard let path = try? TarArchive.safePath(entry.path) else { return false }
                expected[path] = entry.bytes
            }
        } else {
            expected[entryName(for: descriptor, sha256: sha256)] = raw
        }
        guard let tree = try? FileManager.default.subpathsOfDirectory(atPath: root) else { return false }
        var seen = 0
        for relative in tree {
            let path = FilePath(root).appending(relative).string
            var info = stat()
            guard lstat(path, &info) == 0 else { return false }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFREG:
                guard let bytes = expected[relative], FileManager.default.contents(atPath: path).map(Array.init) == bytes
                else { return false }
                seen += 1
            default: return false
            }
        }
        return seen == expected.count
    }

    /// Removes a cache entry that failed its check (and the raw package beside it).
    private func discard(_ sha256: String) {
        let root = FilePath(directory).appending(sha256).string
        for relative in (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? [] {
            _ = chmod(FilePath(root).appending(relative).string, 0o755)
        }
        _ = chmod(root, 0o755)
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: rawPath(sha256))
    }

    private func existingEntry(for descriptor: Descriptor, sha256: String) -> String? {
        let entry = FilePath(directory).appending(sha256).appending(entryName(for: descriptor, sha256: sha256)).string
        return FileManager.default.fileExists(atPath: entry) ? entry : nil
    }

    /// The package's bytes as fetched, kept for signature checks of later deploys.
    private func rawPath(_ sha256: String) -> String {
        FilePath(directory).appending(sha256 + ".package").string
    }

    func checkSignature(_ bytes: [UInt8], descriptor: Descriptor, source: String) throws(DeploymentFailure) {
        guard !trustedKeyBytes.isEmpty else { return }
        do {
            try PackageSignature.verify(bytes, signature: descriptor.signature, trustedKeys: trustedKeys)
        } catch {
            throw DeploymentFailure(.integrity, "package of \(descriptor.domain) refused: \(error.message) (\(source))")
        }
    }

    /// Checks `bytes` against the descriptor and stores them; returns the file to run.
    public func store(_ bytes: [UInt8], for descriptor: Descriptor, from source: String) throws(DeploymentFailure) -> String {
        let actual = PackageSignature.sha256Hex(bytes)
        guard let expected = descriptor.sha256 else {
            throw DeploymentFailure(
                .integrity,
                "package of \(descriptor.domain) refused: the descriptor \(descriptor.origin) gives no \"sha256\", which a package from the network needs"
            )
        }
        guard actual == expected else {
            throw DeploymentFailure(
                .integrity,
                "package of \(descriptor.domain) refused: sha256 of \(source) is \(actual), the descriptor says \(expected) (tampered or out of date)"
            )
        }
        try checkSignature(bytes, descriptor: descriptor, source: source)
        if let entry = existingEntry(for: descriptor, sha256: actual) {
            if treeMatches(bytes, descriptor: descriptor, sha256: actual) { return entry }
            discard(actual)
        }
        let final = FilePath(directory).appending(actual).string
        let staging = final + ".partial-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            _ = chmod(directory, Self.traversableMode(of: directory))
            if Gzip.isGzip(bytes) {
                let archive = try TarArchive.read(Gzip.decompress(bytes, limit: limits.maxTotalBytes), limits: limits)
                try archive.unpack(into: staging)
                let entry = entryName(for: descriptor, sha256: actual)
                guard archive.entries.contains(where: { $0.path == entry && $0.kind == .file }) else {
                    throw DeploymentFailure(
                        .badPackage,
                        "the archive of \(descriptor.domain) has no entry point \"\(entry)\" (set \"entryPoint\" in the descriptor)"
                    )
                }
            } else {
                try FileManager.default.createDirectory(
                    atPath: staging, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
                let path = FilePath(staging).appending(entryName(for: descriptor, sha256: actual)).string
                let mode = descriptor.language == .executable ? 0o555 : 0o444
                guard
                    FileManager.default.createFile(
                        atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
                else {
                    throw DeploymentFailure(.badPackage, "cannot write \(path)")
                }
            }
            _ = FileManager.default.createFile(
                atPath: rawPath(actual), contents: Data(bytes), attributes: [.posixPermissions: 0o600])
            _ = chmod(FilePath(directory).appending(actual + ".package").string, 0o600)
            if rename(staging, final) != 0, !FileManager.default.fileExists(atPath: final) {
                throw DeploymentFailure(.badPackage, "cannot move the package into \(final): errno \(errno)")
            }
        } catch let error as PackageError {
            throw DeploymentFailure(.badPackage, "package of \(descriptor.domain) refused (\(source)): \(error.message)")
        } catch let error as DeploymentFailure {
            throw error
        } catch {
            throw DeploymentFailure(
                .badPackage, "cannot store the package of \(descriptor.domain): \(error.operatorDescription)")
        }
        guard let entry = existingEntry(for: descriptor, sha256: actual) else {
            throw DeploymentFailure(.badPackage, "the package of \(descriptor.domain) vanished from \(final)")
        }
        return entry
    }

    /// The file to run inside the package directory: the archive's entry point, or the single file's name.
    private func entryName(for descriptor: Descriptor, sha256: String) -> String {
        if let entry = descriptor.entryPoint, let safe = try? TarArchive.safePath(entry) { return safe }
        switch descriptor.language {
        case .python: return "main.py"
        case .javascript: return "main.js"
        case .executable: return "main"
        }
    }
}
