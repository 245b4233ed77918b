import FoundationEssentials
import RethinkMessages
import SystemPackage

/// What a domain publishes so that every runtime can fetch its stub (SPEC section 7): a package, a
/// descriptor naming it by a relative URL with its `sha256` (and `signature`), laid out as the `.well-known`
/// tree a static web server serves as it is:
///
/// ```
/// <root>/.well-known/protocolstub/<name>                      the descriptor (JSON)
/// <root>/.well-known/protocolstub/packages/<sha256>/<file>    the package
/// ```
///
/// `<name>` is `default` for the domain's own stub, or `<scheme>.<host>` for an interworking stub. The package
/// sits under its hash so that a new version never overwrites what a runtime is fetching.
public struct StubPublication: Sendable {
    public var name: String = "default"
    public var objectName: String
    public var version: String
    public var description: String?
    public var language: String
    /// For an archive: the file to run inside it.
    public var entryPoint: String?
    public var configuration: JSONValue = .object([])
    public var constraints: JSONValue = .object([])
    public var interworking: Bool = false

    public init(objectName: String, version: String, language: String) {
        self.objectName = objectName
        self.version = version
        self.language = language
    }

    /// A tar.gz of `directory`'s regular files and subdirectories (sorted, so the same tree gives the same
    /// bytes). Links and special files are refused, as a runtime would refuse them.
    public static func archive(directory: String) throws(PackageError) -> [UInt8] {
        var entries: [TarArchive.Entry] = []
        let manager = FileManager.default
        guard let paths = try? manager.subpathsOfDirectory(atPath: directory) else {
            throw PackageError(.io, "cannot read the directory \(directory)")
        }
        for path in paths.sorted() {
            let full = FilePath(directory).appending(path).string
            guard let attributes = try? manager.attributesOfItem(atPath: full),
                let type = attributes[.type] as? FileAttributeType
            else { throw PackageError(.io, "cannot read \(full)") }
            switch type {
            case .typeDirectory:
                entries.append(.init(path: path, kind: .directory))
            case .typeRegular:
                guard let data = manager.contents(atPath: full) else { throw PackageError(.io, "cannot read \(full)") }
                entries.append(
                    .init(path: path, executable: manager.isExecutableFile(atPath: full), bytes: Array(data)))
            default:
                throw PackageError(
                    .unsafeEntry, "\(full) is not a regular file or directory; a stub archive holds only those")
            }
        }
        guard !entries.isEmpty else { throw PackageError(.malformed, "\(directory) holds no files") }
        return Gzip.compress(TarArchive(entries: entries).bytes())
    }

    /// The descriptor for `package`, published at `packageURL` (relative to the descriptor's own URL).
    public func descriptor(package: [UInt8], packageURL: String, signature: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("objectName", .string(objectName)), ("version", .string(version)),
        ]
        if let description { members.append(("description", .string(description))) }
        members += [
            ("language", .string(language)), ("sourcePackageURL", .string(packageURL)),
            ("sha256", .string(PackageSignature.sha256Hex(package))),
        ]
        if let signature { members.append(("signature", .string(signature))) }
        if let entryPoint { members.append(("entryPoint", .string(entryPoint))) }
        members += [
            ("configuration", configuration), ("constraints", constraints), ("interworking", .bool(interworking)),
        ]
        return .object(members)
    }

    /// Writes the package and its descriptor under `root`; returns the descriptor's path.
    @discardableResult
    public func write(
        to root: String, package: [UInt8], fileName: String, privateKey: String?
    ) throws(PackageError) -> String {
        let signature = try privateKey.map { key throws(PackageError) in
            try PackageSignature.sign(package, privateKey: key)
        }
        let sha256 = PackageSignature.sha256Hex(package)
        let base = FilePath(root).appending(".well-known/protocolstub").string
        let relative = "packages/\(sha256)/\(fileName)"
        let descriptor = self.descriptor(package: package, packageURL: relative, signature: signature)
        let descriptorPath = FilePath(base).appending(name).string
        do {
            let packagePath = FilePath(base).appending(relative)
            try FileManager.default.createDirectory(
                atPath: packagePath.removingLastComponent().string, withIntermediateDirectories: true)
            try Data(package).write(to: URL(fileURLWithPath: packagePath.string))
            try Data(descriptor.jsonBytes + [10]).write(to: URL(fileURLWithPath: descriptorPath), options: .atomic)
        } catch {
            throw PackageError(.io, "cannot write the .well-known tree under \(root): \(error)")
        }
        return descriptorPath
    }
}
