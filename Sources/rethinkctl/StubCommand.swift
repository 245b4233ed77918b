import ArgumentParser
import Foundation
import RethinkMessages
import RethinkStubPackage

/// `rethinkctl stub`: the domain side of Protocol on-the-fly. Builds a stub package, signs it, and writes
/// the descriptor and the `.well-known` tree a web server serves as it is; checks a published descriptor
/// the way a runtime will. Needs no running daemon.
struct StubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stub", abstract: "Publish a protostub: keygen, pack, sign, verify (no daemon needed).",
        subcommands: [Keygen.self, Pack.self, Sign.self, Verify.self])

    /// Reads a whole file or fails with its name.
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        return Array(data)
    }

    /// What a subcommand found: its text lines, or (`--json`) one JSON object of the same facts.
    static func report(json: Bool, _ fields: [String: JSONValue], text lines: [String]) {
        if json {
            print(JSONValue.object(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).jsonString)
        } else {
            lines.forEach { print($0) }
        }
    }

    static func text(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Make an Ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub (for discovery.trustedKeys).")
        @Argument(help: "Path prefix of the two files, e.g. keys/acme.")
        var name: String
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let (privateKey, publicKey) = PackageSignature.makeKeyPair()
            guard !FileManager.default.fileExists(atPath: name + ".key") else {
                throw ValidationError("\(name).key exists; not overwriting a private key")
            }
            guard
                FileManager.default.createFile(
                    atPath: name + ".key", contents: Data((privateKey + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write \(name).key") }
            try Data((publicKey + "\n").utf8).write(to: URL(fileURLWithPath: name + ".pub"))
            StubCommand.report(
                json: json, ["privateKeyFile": .string(name + ".key"), "publicKeyFile": .string(name + ".pub"),
                             "publicKey": .string(publicKey)],
                text: ["private key: \(name).key (keep it secret)", "public key:  \(name).pub  \(publicKey)"])
        }
    }

    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Package a stub (one file, or a directory as tar.gz) and write its descriptor and package under OUT/.well-known/protocolstub/."
        )
        @Argument(help: "The stub: a single file (a script or an executable) or a directory (archived).")
        var source: String
        @Option(help: "Where the .well-known tree goes (the web server's document root).")
        var out: String
        @Option(
            help: "Descriptor name: 'default' for the domain's own stub, '<scheme>.<host>' for an interworking stub.")
        var name: String = "default"
        @Option(help: "The descriptor's objectName.")
        var objectName: String = "stub"
        @Option(help: "The descriptor's version; a runtime rolls over to a newer one without a restart.")
        var version: String
        @Option(help: "python, javascript or executable.")
        var language: String
        @Option(help: "For a directory: the file to run inside it (default main.py, main.js or main).")
        var entryPoint: String?
        @Option(help: "Sign with this private key (from 'rethinkctl stub keygen').")
        var key: String?
        @Option(help: "The descriptor's configuration, as a JSON object.")
        var configuration: String = "{}"
        @Option(help: "The descriptor's constraints, as a JSON object.")
        var constraints: String = "{}"
        @Flag(help: "Mark the stub as an interworking stub (IWStub).")
        var interworking = false
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
                throw ValidationError("\(source) does not exist")
            }
            let package: [UInt8]
            let fileName: String
            if isDirectory.boolValue {
                package = try StubPublication.archive(directory: source)
                fileName = "stub.tar.gz"
            } else {
                package = try StubCommand.read(source)
                fileName = (source as NSString).lastPathComponent
            }
            var publication = StubPublication(objectName: objectName, version: version, language: language)
            publication.name = name
            publication.entryPoint = isDirectory.boolValue ? entryPoint : nil
            publication.interworking = interworking
            publication.configuration = try Pack.object(configuration, "--configuration")
            publication.constraints = try Pack.object(constraints, "--constraints")
            let privateKey = try key.map(StubCommand.text)
            let path = try publication.write(to: out, package: package, fileName: fileName, privateKey: privateKey)
            let sha256 = PackageSignature.sha256Hex(package)
            StubCommand.report(
                json: json,
                ["descriptor": .string(path), "bytes": .int(Int64(package.count)), "sha256": .string(sha256),
                 "signed": .bool(privateKey != nil)],
                text: [
                    "descriptor: \(path)",
                    "package:    \(package.count) bytes, sha256 \(sha256)\(privateKey == nil ? ", unsigned" : ", signed")",
                ])
        }

        static func object(_ text: String, _ option: String) throws -> JSONValue {
            guard let value = try? JSONValue.parse(text), value.objectValue != nil else {
                throw ValidationError("\(option) must be a JSON object")
            }
            return value
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a package; with --descriptor, write the signature (and sha256) into that descriptor.")
        @Argument(help: "The package file.")
        var package: String
        @Option(help: "The private key file.")
        var key: String
        @Option(help: "A descriptor to update in place.")
        var descriptor: String?
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let bytes = try StubCommand.read(package)
            let signature = try PackageSignature.sign(bytes, privateKey: try StubCommand.text(key))
            guard let descriptor else {
                StubCommand.report(json: json, ["signature": .string(signature)], text: [signature])
                return
            }
            guard case .object(var members) = try JSONValue.parse(try StubCommand.read(descriptor)) else {
                throw ValidationError("\(descriptor) is not a JSON object")
            }
            members.removeAll { $0.0 == "signature" || $0.0 == "sha256" }
            members.append(("sha256", .string(PackageSignature.sha256Hex(bytes))))
            members.append(("signature", .string(signature)))
            try Data(JSONValue.object(members).jsonBytes + [10]).write(
                to: URL(fileURLWithPath: descriptor), options: .atomic)
            StubCommand.report(
                json: json, ["descriptor": .string(descriptor), "signature": .string(signature)],
                text: ["signed \(descriptor)"])
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a published descriptor's package the way a runtime will: sha256, signature, archive contents.")
        @Argument(help: "The descriptor file (its relative sourcePackageURL is resolved beside it).")
        var descriptor: String
        @Option(
            help:
                "A trusted public key (base64, or a .pub file); repeatable. Without one the signature is not required.")
        var trustedKey: [String] = []
        @Flag(help: "Print JSON instead of text (one object, once every check passed).")
        var json = false

        func run() throws {
            var fields: [String: JSONValue] = [:]
            var lines: [String] = []
            defer { if fields["sha256"] != nil { StubCommand.report(json: json, fields, text: lines) } }
            let descriptorJSON = try JSONValue.parse(try StubCommand.read(descriptor))
            guard let url = descriptorJSON["sourcePackageURL"]?.stringValue, !url.contains("://"), !url.hasPrefix("/") else {
                throw ValidationError("verify reads a package beside the descriptor: sourcePackageURL must be relative")
            }
            let packagePath = ((descriptor as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                url)
            let bytes = try StubCommand.read(packagePath)
            let actual = PackageSignature.sha256Hex(bytes)
            guard let expected = descriptorJSON["sha256"]?.stringValue else {
                throw ValidationError("the descriptor has no sha256")
            }
            guard actual == expected.lowercased() else {
                throw ValidationError("sha256 mismatch: the package is \(actual), the descriptor says \(expected)")
            }
            lines.append("sha256 ok: \(actual)")
            if !trustedKey.isEmpty {
                let keys = try trustedKey.map { value in
                    try PackageSignature.publicKey(
                        FileManager.default.fileExists(atPath: value) ? StubCommand.text(value) : value)
                }
                let index = try PackageSignature.verify(
                    bytes, signature: descriptorJSON["signature"]?.stringValue, trustedKeys: keys)
                lines.append("signature ok: trusted key \(index + 1) of \(keys.count)")
                fields["trustedKey"] = .int(Int64(index + 1))
            }
            if Gzip.isGzip(bytes) {
                let archive = try TarArchive.read(Gzip.decompress(bytes, limit: 64 << 20))
                let language = descriptorJSON["language"]?.stringValue?.lowercased() ?? "python"
                let defaultEntry =
                    language.hasPrefix("javascript") ? "main.js" : language == "executable" ? "main" : "main.py"
                let entry = descriptorJSON["entryPoint"]?.stringValue ?? defaultEntry
                guard archive.entries.contains(where: { $0.path == entry }) else {
                    throw ValidationError("the archive has no entry point \(entry)")
                }
                lines.append("archive ok: \(archive.entries.count) entries, entry point \(entry)")
                fields["archiveEntries"] = .int(Int64(archive.entries.count))
                fields["entryPoint"] = .string(entry)
            }
            fields["sha256"] = .string(actual)
        }
    }
}
