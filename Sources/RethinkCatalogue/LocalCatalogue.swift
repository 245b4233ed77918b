import FoundationEssentials
import RethinkMessages
import SystemPackage

/// The local catalogue (SPEC section 7): directories holding one descriptor per domain key, `<key>.json`.
/// It is how an operator pins or ships stubs, and how the daemon works offline. The first directory that
/// holds a descriptor wins; a newer file is read on the next deploy without a restart.
public struct LocalCatalogue: Sendable {
    public let directories: [String]
    public let binariesDirectory: String?

    public init(directories: [String], binariesDirectory: String?) {
        self.directories = directories
        self.binariesDirectory = binariesDirectory
    }

    /// The descriptor for `domain`, or a `noDescriptor` error naming the places looked at. In each directory
    /// `<key>.json` is looked for, then reTHINK's published name `<key>.ps.json` (whose code may sit beside
    /// it as `<key>.ps.js`).
    public func descriptor(for domain: DomainKey) throws(DeploymentFailure) -> Descriptor {
        for directory in directories {
            for name in ["\(domain.value).json", "\(domain.value).ps.json"] {
                let path = FilePath(directory).appending(name).string
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                return try Descriptor.parse(
                    Array(data), domain: domain, origin: path, directory: directory,
                    binariesDirectory: binariesDirectory)
            }
        }
        let places =
            directories.isEmpty
            ? "no catalogue directory is configured" : "looked in " + directories.joined(separator: ", ")
        throw DeploymentFailure(
            .noDescriptor,
            "no descriptor for \(domain): \(places); add \(domain.value).json to a catalogue directory (--catalogue)")
    }
}
