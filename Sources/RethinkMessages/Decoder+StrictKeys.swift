/// Any key of a JSON object, for reading the keys a section has before decoding it.
public struct AnyCodingKey: CodingKey, Sendable {
    public let stringValue: String
    public var intValue: Int?
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) {
        stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// Keys a configuration section does not know, refused by ``Swift/Decoder/refuseUnknownKeys(_:)``; its
/// `message` names each by its path and lists the keys known there.
public struct UnknownSettingsError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension Decoder {
    /// Refuses the keys of this object that `Keys` does not name: a misspelt setting (`trustedkeys`,
    /// `fileSizeByte`) is an error naming its path and the known ones, not a default silently kept. Every
    /// section of the configuration calls it first, so that all are read by the same rule. The error is its
    /// own type, not a `DecodingError`: JSONDecoder passes it through as it is.
    public func refuseUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = keys.allCases.map(\.stringValue)
        let unknown = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
            .filter { !known.contains($0) }.sorted()
        guard !unknown.isEmpty else { return }
        let section = codingPath.dottedPath
        let paths = unknown.map { section.isEmpty ? $0 : "\(section).\($0)" }
        throw UnknownSettingsError(
            message:
                "unknown setting\(paths.count == 1 ? "" : "s") \(paths.joined(separator: ", ")); known\(section.isEmpty ? "" : " in \(section)"): \(known.sorted().joined(separator: ", "))"
        )
    }
}

extension [any CodingKey] {
    /// `sandbox.openFiles`, `domains."acme.example".memoryBytes`: a key with a dot in it is quoted.
    public var dottedPath: String {
        map { $0.stringValue.contains(".") ? "\"\($0.stringValue)\"" : $0.stringValue }.joined(separator: ".")
    }
}
