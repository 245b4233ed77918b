import Crypto
import Foundation
import RethinkMessages
import RethinkSandbox

/// What the sandbox runs for one stub: the command line and the stub's own working directory.
public struct PreparedStub: Sendable {
    public let executable: String
    public let arguments: [String]
    public let workingDirectory: String
    public let environment: [String: String]
}

/// Turns a descriptor's package into something runnable: reads it, checks its `sha256`, writes inline
/// packages to the state directory (cached by hash), and picks the interpreter for its language.
public struct StubPackager: Sendable {
    public let stateDirectory: String
    /// Interpreter per language (`python` -> `/usr/bin/python3`, `javascript` -> `/usr/bin/node`).
    public let interpreters: [StubLanguage: String]
    /// Directories put on a Python stub's import path (the stub kit lives there).
    public let pythonPath: [String]

    public init(stateDirectory: String, interpreters: [StubLanguage: String], pythonPath: [String]) {
        self.stateDirectory = stateDirectory
        self.interpreters = interpreters
        self.pythonPath = pythonPath
    }

    /// `packagePath` is the package already fetched and verified by the network catalogue, if any.
    public func prepare(
        _ descriptor: Descriptor, packagePath fetchedPackage: String? = nil, stubURL: String, runtimeURL: String
    )
        throws(DeploymentError) -> PreparedStub
    {
        let packagePath: String
        if let fetched = fetchedPackage {
            packagePath = fetched
        } else {
            packagePath = try packageFile(descriptor)
        }
        let workingDirectory = try makeWorkingDirectory(for: descriptor.domain)
        var environment = [
            "RETHINK_STUB_URL": stubURL, "RETHINK_RUNTIME_URL": runtimeURL, "RETHINK_DOMAIN": descriptor.domain.value,
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workingDirectory, "LANG": "C.UTF-8",
        ]
        switch descriptor.language {
        case .executable:
            guard FileManager.default.isExecutableFile(atPath: packagePath) else {
                throw DeploymentError(
                    .badPackage, "stub package \(packagePath) for \(descriptor.domain) is not an executable file")
            }
            return PreparedStub(
                executable: packagePath, arguments: [packagePath], workingDirectory: workingDirectory,
                environment: environment)
        case .python, .javascript:
            guard let interpreter = interpreters[descriptor.language],
                FileManager.default.isExecutableFile(atPath: interpreter)
            else {
                throw DeploymentError(
                    .unsupported,
                    "no \(descriptor.language.rawValue) interpreter for \(descriptor.domain)'s stub (looked for \(interpreters[descriptor.language] ?? "none"))"
                )
            }
            if descriptor.language == .python {
                environment["PYTHONPATH"] = ([(packagePath as NSString).deletingLastPathComponent] + pythonPath).joined(
                    separator: ":")
                environment["PYTHONDONTWRITEBYTECODE"] = "1"
                environment["PYTHONUNBUFFERED"] = "1"
                return PreparedStub(
                    executable: interpreter, arguments: [interpreter, "-B", "-s", packagePath],
                    workingDirectory: workingDirectory,
                    environment: environment)
            }
            return PreparedStub(
                executable: interpreter, arguments: [interpreter, packagePath], workingDirectory: workingDirectory,
                environment: environment)
        }
    }

    /// The package's path on disk, after its hash was checked when the descriptor gives one.
    private func packageFile(_ descriptor: Descriptor) throws(DeploymentError) -> String {
        switch descriptor.source {
        case .remote(let url):
            throw DeploymentError(
                .unsupported,
                "\(descriptor.domain)'s package is at \(url); fetching packages over the network is not supported yet, ship it in a local catalogue"
            )
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DeploymentError(
                    .badPackage,
                    "stub package \(path) for \(descriptor.domain) cannot be read (named by \(descriptor.origin))")
            }
            try verify(Array(data), descriptor: descriptor, name: path)
            return path
        case .inline(let bytes, let name):
            try verify(bytes, descriptor: descriptor, name: "the inline package")
            let digest = StubPackager.hex(SHA256.hash(data: bytes))
            let directory = (stateDirectory as NSString).appendingPathComponent("packages/\(digest)")
            let path = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: path) { return path }
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let mode = descriptor.language == .executable ? 0o700 : 0o600
                guard
                    FileManager.default.createFile(
                        atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
                else {
                    throw CocoaError(.fileWriteUnknown)
                }
            } catch {
                throw DeploymentError(
                    .badPackage, "cannot write \(descriptor.domain)'s inline package to \(path): \(error)")
            }
            return path
        }
    }

    private func verify(_ bytes: [UInt8], descriptor: Descriptor, name: String) throws(DeploymentError) {
        guard let expected = descriptor.sha256 else { return }
        let actual = StubPackager.hex(SHA256.hash(data: bytes))
        guard actual == expected else {
            throw DeploymentError(
                .integrity,
                "package of \(descriptor.domain) refused: sha256 of \(name) is \(actual), the descriptor says \(expected)"
            )
        }
    }

    private func makeWorkingDirectory(for domain: DomainKey) throws(DeploymentError) -> String {
        let path = (stateDirectory as NSString).appendingPathComponent("stubs/\(domain.value)")
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DeploymentError(.spawn, "cannot create the working directory \(path) for \(domain)'s stub: \(error)")
        }
        return path
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
