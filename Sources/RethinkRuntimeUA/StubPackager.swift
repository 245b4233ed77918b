import Crypto
import FoundationEssentials
import Glibc
import RethinkCatalogue
import RethinkMessages
import RethinkSandbox
import SystemPackage

/// What the sandbox runs for one stub: the command line and the stub's own working directory.
public struct PreparedStub: Sendable {
    public let executable: String
    public let arguments: [String]
    public let workingDirectory: String
    public let environment: [String: String]
    /// The daemon-written, verified directory the package runs from (the stub may read and execute it).
    public let packageDirectory: String
    /// A single-file package from a local catalogue: only this file is given to the stub (its directory
    /// holds other domains' descriptors), bound read-only into its view.
    public var packageFile: String? = nil
    /// Directories of the runtime's own the stub reads besides its package (the JavaScript stub host).
    public var kitDirectories: [String] = []
}

/// The JavaScript stub host (`stubkit/js/rethink-stub-host.js`): node runs it with the package as its argument,
/// and it gives a reTHINK stub the bus, loaders and browser globals it was written for (docs/STUBS.md,
/// "Running reTHINK stubs").
public struct JavaScriptHost: Sendable, Equatable {
    /// The host script; its directory is readable by JavaScript stubs.
    public var script: String
    /// The host answers a stub's own request 408 after this long, if the runtime has not answered it by then.
    public var responseTimeoutMilliseconds: Int

    public init(script: String, responseTimeoutMilliseconds: Int) {
        self.script = script
        self.responseTimeoutMilliseconds = responseTimeoutMilliseconds
    }
}

/// Turns a descriptor's package into something runnable: reads it, checks its `sha256`, copies it into the
/// daemon's own cache (`<state>/packages/copies/<sha256>/`, written only by the daemon, read-only, checked
/// again at every deploy), and picks the interpreter for its language. A stub never runs from a catalogue
/// directory or a file the daemon did not write and verify.
public struct StubPackager: Sendable {
    public let stateDirectory: String
    /// Interpreter per language (`python` -> `/usr/bin/python3`, `javascript` -> `/usr/bin/node`).
    public let interpreters: [StubLanguage: String]
    /// Directories put on a Python stub's import path (the stub kit lives there).
    public let pythonPath: [String]
    /// What runs a JavaScript stub; nil: node runs the package itself, which then speaks the MiniBUS.
    public let javascriptHost: JavaScriptHost?

    public init(
        stateDirectory: String, interpreters: [StubLanguage: String], pythonPath: [String],
        javascriptHost: JavaScriptHost? = nil
    ) {
        self.stateDirectory = stateDirectory
        self.interpreters = interpreters
        self.pythonPath = pythonPath
        self.javascriptHost = javascriptHost
    }

    /// `packagePath` is the package already fetched and verified by the network catalogue, if any.
    public func prepare(
        _ descriptor: Descriptor, packagePath fetchedPackage: String? = nil, stubURL: String, runtimeURL: String
    )
        throws(DeploymentFailure) -> PreparedStub
    {
        let packagePath: String
        let packageDirectory: String
        if let fetched = fetchedPackage {
            packagePath = fetched
            packageDirectory = packageRoot(of: fetched)
        } else {
            packagePath = try packageFile(descriptor)
            packageDirectory = FilePath(packagePath).removingLastComponent().string
        }
        let singleFile: String?
        if case .file = descriptor.source, fetchedPackage == nil { singleFile = packagePath } else { singleFile = nil }
        let workingDirectory = try makeWorkingDirectory(for: descriptor.domain)
        var environment = [
            "RETHINK_STUB_URL": stubURL, "RETHINK_RUNTIME_URL": runtimeURL, "RETHINK_DOMAIN": descriptor.domain.value,
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workingDirectory, "LANG": "C.UTF-8",
            "TMPDIR": workingDirectory,
        ]
        switch descriptor.language {
        case .executable:
            guard FileManager.default.isExecutableFile(atPath: packagePath) else {
                throw DeploymentFailure(
                    .badPackage, "stub package \(packagePath) for \(descriptor.domain) is not an executable file")
            }
            return PreparedStub(
                executable: packagePath, arguments: [packagePath], workingDirectory: workingDirectory,
                environment: environment, packageDirectory: packageDirectory, packageFile: singleFile)
        case .python, .javascript:
            guard let interpreter = interpreters[descriptor.language],
                FileManager.default.isExecutableFile(atPath: interpreter)
            else {
                throw DeploymentFailure(
                    .unsupported,
                    "no \(descriptor.language.rawValue) interpreter for \(descriptor.domain)'s stub (looked for \(interpreters[descriptor.language] ?? "none"))"
                )
            }
            if descriptor.language == .python {
                // A package directory's modules import each other; a single file sees no directory of its own
                // (its view holds the file alone), so neither its directory nor the script's (Python puts that
                // first in sys.path unless PYTHONSAFEPATH, 3.11+, says not to; older ones ignore it) is searched:
                // listing it would be a Landlock refusal logged for every deploy.
                var searchPath = pythonPath
                if singleFile == nil {
                    searchPath.insert(FilePath(packagePath).removingLastComponent().string, at: 0)
                } else {
                    environment["PYTHONSAFEPATH"] = "1"
                }
                environment["PYTHONPATH"] = searchPath.joined(separator: ":")
                environment["PYTHONDONTWRITEBYTECODE"] = "1"
                environment["PYTHONUNBUFFERED"] = "1"
                return PreparedStub(
                    executable: interpreter, arguments: [interpreter, "-B", "-s", packagePath],
                    workingDirectory: workingDirectory,
                    environment: environment, packageDirectory: packageDirectory, packageFile: singleFile)
            }
            guard let host = javascriptHost else {
                return PreparedStub(
                    executable: interpreter, arguments: [interpreter, packagePath], workingDirectory: workingDirectory,
                    environment: environment, packageDirectory: packageDirectory, packageFile: singleFile)
            }
            guard FileManager.default.isReadableFile(atPath: host.script) else {
                throw DeploymentFailure(
                    .unsupported,
                    "the JavaScript stub host \(host.script) for \(descriptor.domain)'s stub cannot be read (javascriptHost in the configuration)"
                )
            }
            return PreparedStub(
                executable: interpreter,
                arguments: [
                    interpreter, host.script, "--response-timeout-ms=\(host.responseTimeoutMilliseconds)", packagePath,
                ],
                workingDirectory: workingDirectory, environment: environment, packageDirectory: packageDirectory,
                packageFile: singleFile, kitDirectories: [FilePath(host.script).removingLastComponent().string])
        }
    }

    /// The package's verified copy in the daemon's cache, after its hash was checked when the descriptor
    /// gives one.
    private func packageFile(_ descriptor: Descriptor) throws(DeploymentFailure) -> String {
        switch descriptor.source {
        case .remote(let url):
            throw DeploymentFailure(
                .unsupported,
                "\(descriptor.domain)'s package is at \(url); fetching packages over the network is not supported yet, ship it in a local catalogue"
            )
        case .file(let path):
            // A local catalogue is the operator's: its file is bound read-only into the stub's view (no stub
            // can write it), so it runs in place, without a copy of what may be a large binary. It is read
            // (and hashed) only when the descriptor gives a sha256 to check.
            guard access(path, R_OK) == 0 else {
                throw DeploymentFailure(
                    .badPackage,
                    "stub package \(path) for \(descriptor.domain) cannot be read (named by \(descriptor.origin))")
            }
            guard descriptor.sha256 != nil else { return path }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DeploymentFailure(
                    .badPackage,
                    "stub package \(path) for \(descriptor.domain) cannot be read (named by \(descriptor.origin))")
            }
            try verify(Array(data), descriptor: descriptor, name: path)
            return path
        case .inline(let bytes, let name):
            try verify(bytes, descriptor: descriptor, name: "the inline package")
            return try cachedCopy(bytes, name: name, descriptor: descriptor)
        }
    }

    /// `<state>/packages/copies/<sha256>/<name>`: written by the daemon (read-only, in a directory only it
    /// writes), and used only while its bytes still hash to `bytes`' digest; anything else found there
    /// (planted, altered) is replaced.
    private func cachedCopy(_ bytes: [UInt8], name: String, descriptor: Descriptor) throws(DeploymentFailure) -> String {
        let digest = StubPackager.hex(SHA256.hash(data: bytes))
        let packages = FilePath(stateDirectory).appending("packages").string
        let copies = FilePath(packages).appending("copies").string
        let directory = FilePath(copies).appending(digest).string
        let safeName = name.isEmpty || name.hasPrefix(".") || name.contains("/") ? "package" : name
        let path = FilePath(directory).appending(safeName).string
        let executable = descriptor.language == .executable
        if let existing = FileManager.default.contents(atPath: path),
            StubPackager.hex(SHA256.hash(data: existing)) == digest,
            (try? FileManager.default.contentsOfDirectory(atPath: directory)) == [safeName]
        {
            return path
        }
        do {
            for traversable in [stateDirectory, packages, copies] {
                try FileManager.default.createDirectory(
                    atPath: traversable, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
                _ = chmod(traversable, PackageStore.traversableMode(of: traversable))
            }
            let staging = directory + ".partial-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            try FileManager.default.createDirectory(
                atPath: staging, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            let staged = FilePath(staging).appending(safeName).string
            guard
                FileManager.default.createFile(
                    atPath: staged, contents: Data(bytes), attributes: [.posixPermissions: executable ? 0o555 : 0o444])
            else {
                throw CocoaError(.fileWriteUnknown)
            }
            _ = chmod(staging, 0o555)
            if FileManager.default.fileExists(atPath: directory) {
                _ = chmod(directory, 0o755)
                try FileManager.default.removeItem(atPath: directory)
            }
            try FileManager.default.moveItem(atPath: staging, toPath: directory)
        } catch {
            throw DeploymentFailure(
                .badPackage,
                "cannot write \(descriptor.domain)'s package to the cache \(directory): \(error.operatorDescription)")
        }
        return path
    }

    /// The package directory of a network package (`<state>/packages/<sha256>/...`): its first component
    /// under `packages/`.
    private func packageRoot(of entry: String) -> String {
        let packages = FilePath(stateDirectory).appending("packages").string + "/"
        guard entry.hasPrefix(packages), let first = entry.dropFirst(packages.count).split(separator: "/").first else {
            return FilePath(entry).removingLastComponent().string
        }
        return packages + first
    }

    private func verify(_ bytes: [UInt8], descriptor: Descriptor, name: String) throws(DeploymentFailure) {
        guard let expected = descriptor.sha256 else { return }
        let actual = StubPackager.hex(SHA256.hash(data: bytes))
        guard actual == expected else {
            throw DeploymentFailure(
                .integrity,
                "package of \(descriptor.domain) refused: sha256 of \(name) is \(actual), the descriptor says \(expected)"
            )
        }
    }

    private func makeWorkingDirectory(for domain: DomainKey) throws(DeploymentFailure) -> String {
        let stubs = FilePath(stateDirectory).appending("stubs").string
        let path = FilePath(stubs).appending(domain.value).string
        do {
            try FileManager.default.createDirectory(
                atPath: stubs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            _ = chmod(stateDirectory, PackageStore.traversableMode(of: stateDirectory))
            _ = chmod(stubs, PackageStore.traversableMode(of: stubs))
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DeploymentFailure(
                .spawn,
                "cannot create the working directory \(path) for \(domain)'s stub: \(error.operatorDescription)")
        }
        return path
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.lowercaseHex
    }
}
