import FoundationEssentials
import RethinkMessages
import RethinkSandbox
import SystemPackage

/// A protostub descriptor (reTHINK's ProtoStubDescriptor, SPEC section 7): what to run for a domain and
/// what it is granted.
public struct Descriptor: Sendable {
    /// Where the stub's code comes from.
    public enum Source: Sendable, Equatable {
        case file(String)
        case inline(bytes: [UInt8], name: String)
        case remote(String)
    }

    public let domain: DomainKey
    public let objectName: String
    public let version: String?
    public let description: String?
    public let language: StubLanguage
    public let source: Source
    public let sha256: String?
    public let signature: String?
    /// Handed to the stub in the deploy message's `body.config`.
    public let configuration: JSONValue
    public let constraints: JSONValue
    public let interworking: Bool
    /// Where the descriptor was read from, for messages.
    public let origin: String
    /// For an archive package: the file to run, relative to the unpacked archive (`entryPoint`; a
    /// rethink-runtimed extension of the reTHINK descriptor, defaulting to `main.py`, `main.js` or `main`).
    public let entryPoint: String?
    /// The descriptor's URL when it came from the network (`.well-known`), nil for a local catalogue.
    public let remoteURL: String?
    /// How long its stub may sit idle before it is undeployed (`idleSeconds`, a rethink-runtimed extension;
    /// 0: never); nil: the daemon's `stubIdleSeconds`.
    public var idleSeconds: Double? = nil

    /// Parses and checks a descriptor. `directory` resolves a relative `sourcePackageURL`; `binariesDirectory`
    /// resolves the bare name of an `executable` stub shipped with the daemon.
    /// A descriptor fetched from `baseURL` resolves a relative `sourcePackageURL` against it and may only name
    /// a network or inline package, never a file on this host.
    public static func parse(
        _ bytes: [UInt8], domain: DomainKey, origin: String, directory: String, binariesDirectory: String?,
        baseURL: String? = nil
    ) throws(DeploymentFailure) -> Descriptor {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw DeploymentFailure(.badDescriptor, "descriptor \(origin) is not valid JSON: \(error)")
        }
        guard json.objectValue != nil else {
            throw DeploymentFailure(.badDescriptor, "descriptor \(origin) is not a JSON object")
        }
        guard let languageName = json["language"]?.stringValue else {
            throw DeploymentFailure(
                .badDescriptor, "descriptor \(origin) has no \"language\" (python, javascript or executable)")
        }
        guard let language = StubLanguage(descriptorValue: languageName) else {
            throw DeploymentFailure(
                .badDescriptor,
                "descriptor \(origin): language \"\(languageName)\" is not one of python, javascript, executable")
        }
        let source: Source
        if let baseURL {
            source = try remoteSource(json, origin: origin, language: language, baseURL: baseURL)
        } else {
            source = try resolveSource(
                json, origin: origin, language: language, directory: directory, binariesDirectory: binariesDirectory)
        }
        let sha256 = json["sha256"]?.stringValue?.lowercased()
        if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
            throw DeploymentFailure(.badDescriptor, "descriptor \(origin): \"sha256\" must be 64 hex digits")
        }
        var configuration = json["configuration"] ?? .object([])
        // reTHINK's classic catalogue writes an empty configuration as `[]`.
        if let list = configuration.arrayValue, list.isEmpty { configuration = .object([]) }
        guard configuration.objectValue != nil else {
            throw DeploymentFailure(.badDescriptor, "descriptor \(origin): \"configuration\" must be an object")
        }
        let idle = json["idleSeconds"]
        let idleSeconds = idle?.doubleValue ?? idle?.intValue.map(Double.init)
        if idle != nil, (idleSeconds ?? -1) < 0 {
            throw DeploymentFailure(.badDescriptor, "descriptor \(origin): \"idleSeconds\" must be a number of seconds, 0 or more")
        }
        var descriptor = Descriptor(
            domain: domain, objectName: json["objectName"]?.stringValue ?? domain.value,
            version: json["version"]?.stringValue ?? json["version"]?.intValue.map { String($0) }
                ?? json["version"]?.doubleValue.map { "\($0)" },
            description: json["description"]?.stringValue, language: language, source: source, sha256: sha256,
            signature: json["signature"]?.stringValue, configuration: configuration,
            constraints: json["constraints"] ?? .object([]), interworking: json["interworking"]?.boolValue ?? false,
            origin: origin, entryPoint: json["entryPoint"]?.stringValue, remoteURL: baseURL)
        descriptor.idleSeconds = idleSeconds
        return descriptor
    }

    private static func remoteSource(_ json: JSONValue, origin: String, language: StubLanguage, baseURL: String)
        throws(DeploymentFailure) -> Source
    {
        guard let url = json["sourcePackageURL"]?.stringValue, !url.isEmpty else {
            if json["sourcePackage"] != nil {
                return try inlineSource(json["sourcePackage"], origin: origin, language: language)
            }
            // reTHINK's 2019 `.well-known` layout: `<name>.ps.json` with its code beside it as `<name>.ps.js`.
            guard language == .javascript, let base = URL(string: baseURL) else {
                throw DeploymentFailure(.badDescriptor, "descriptor \(origin) has no \"sourcePackageURL\"")
            }
            let name = base.lastPathComponent
            let code = (name.hasSuffix(".ps.json") ? String(name.dropLast(".json".count)) : name + ".ps") + ".js"
            return .remote(base.deletingLastPathComponent().appendingPathComponent(code).absoluteString)
        }
        if url == "/sourcePackage" {
            return try inlineSource(json["sourcePackage"], origin: origin, language: language)
        }
        guard let resolved = URL(string: url, relativeTo: URL(string: baseURL))?.absoluteURL,
            let scheme = resolved.scheme?.lowercased(), scheme == "https" || scheme == "http"
        else {
            throw DeploymentFailure(
                .badDescriptor,
                "descriptor \(origin): sourcePackageURL \"\(url)\" is not an http(s) URL; a descriptor from the network cannot name a file on this host"
            )
        }
        return .remote(resolved.absoluteString)
    }

    private static func resolveSource(
        _ json: JSONValue, origin: String, language: StubLanguage, directory: String, binariesDirectory: String?
    ) throws(DeploymentFailure) -> Source {
        guard let url = json["sourcePackageURL"]?.stringValue, !url.isEmpty else {
            if json["sourcePackage"] != nil {
                return try inlineSource(json["sourcePackage"], origin: origin, language: language)
            }
            if language == .javascript,
                let companion = companionCode(json, descriptorPath: origin, directory: directory)
            {
                return .file(companion)
            }
            throw DeploymentFailure(
                .badDescriptor,
                "descriptor \(origin) has no \"sourcePackageURL\""
                    + (language == .javascript
                        ? " and no code beside it (\(companionNames(json, descriptorPath: origin).joined(separator: " or ")))"
                        : ""))
        }
        if url == "/sourcePackage" {
            return try inlineSource(json["sourcePackage"], origin: origin, language: language)
        }
        if url.hasPrefix("https://") || url.hasPrefix("http://") { return .remote(url) }
        if url.hasPrefix("file://") { return .file(String(url.dropFirst("file://".count))) }
        if url.hasPrefix("/") { return .file(url) }
        let local = FilePath(directory).appending(url).string
        if language == .executable, !url.contains("/"), !FileManager.default.fileExists(atPath: local),
            let binariesDirectory
        {
            return .file(FilePath(binariesDirectory).appending(url).string)
        }
        return .file(FilePath(local).standardized().string)
    }

    private static func inlineSource(_ package: JSONValue?, origin: String, language: StubLanguage)
        throws(DeploymentFailure) -> Source
    {
        guard let package, let code = package["sourceCode"]?.stringValue else {
            throw DeploymentFailure(
                .badDescriptor,
                "descriptor \(origin): \"/sourcePackage\" needs an inline \"sourcePackage\" with \"sourceCode\"")
        }
        let encoding = package["encoding"]?.stringValue?.lowercased() ?? "utf-8"
        let bytes: [UInt8]
        switch encoding {
        case "utf-8", "utf8":
            bytes = Array(code.utf8)
        case "base64":
            guard let data = Data(base64Encoded: code, options: .ignoreUnknownCharacters) else {
                throw DeploymentFailure(.badPackage, "descriptor \(origin): inline sourceCode is not valid base64")
            }
            bytes = Array(data)
        default:
            throw DeploymentFailure(
                .badDescriptor, "descriptor \(origin): sourcePackage encoding \"\(encoding)\" is not UTF-8 or base64")
        }
        let suffix: String
        switch language {
        case .python: suffix = ".py"
        case .javascript: suffix = ".js"
        case .executable: suffix = ""
        }
        // `sourceCodeClasname`: as some of reTHINK's catalogue files spell it.
        let className =
            package["sourceCodeClassname"]?.stringValue ?? package["sourceCodeClasname"]?.stringValue ?? "stub"
        let safeName = String(className.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return .inline(bytes: bytes, name: (safeName.isEmpty ? "stub" : safeName) + suffix)
    }

    /// reTHINK's published form in a local catalogue: `<name>.ps.json` (or `<key>.json`) without a
    /// `sourcePackageURL`, its code beside it as `<name>.ps.js`, else as `<objectName>.ps.js`.
    private static func companionNames(_ json: JSONValue, descriptorPath: String) -> [String] {
        let file = FilePath(descriptorPath).lastComponent?.string ?? ""
        let base =
            file.hasSuffix(".ps.json")
            ? String(file.dropLast(".ps.json".count))
            : file.hasSuffix(".json") ? String(file.dropLast(".json".count)) : file
        var names = [base + ".ps.js"]
        if let objectName = json["objectName"]?.stringValue, !objectName.isEmpty, !objectName.contains("/"),
            !objectName.hasPrefix("."), objectName != base
        {
            names.append(objectName + ".ps.js")
        }
        return names
    }

    private static func companionCode(_ json: JSONValue, descriptorPath: String, directory: String) -> String? {
        companionNames(json, descriptorPath: descriptorPath).lazy
            .map { FilePath(directory).appending($0).string }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The same descriptor naming `sha256` as its package's digest: for a reTHINK descriptor that gives none,
    /// once its package was fetched over HTTPS (see `NetworkCatalogue.package(for:)`).
    public func withSHA256(_ digest: String) -> Descriptor {
        var descriptor = Descriptor(
            domain: domain, objectName: objectName, version: version, description: description, language: language,
            source: source, sha256: digest, signature: signature, configuration: configuration,
            constraints: constraints, interworking: interworking, origin: origin, entryPoint: entryPoint,
            remoteURL: remoteURL)
        descriptor.idleSeconds = idleSeconds
        return descriptor
    }
}
