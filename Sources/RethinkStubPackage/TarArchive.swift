/// A small POSIX tar (ustar) reader and writer for stub archives.
///
/// Hand-written because no tar library is on the package mirror the project builds from, and because the
/// reader must refuse more than a general-purpose one would: it takes regular files and directories only
/// (no hard or symbolic links, no device files, no FIFOs), relative paths without `..`, and stops at a file
/// count and a byte total. pax (`x`) and GNU long-name (`L`) headers are understood for paths; global pax
/// headers are ignored.
public struct TarArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case file, directory }
        /// Relative, normalised: no leading `./`, no `..`, no empty components.
        public let path: String
        public let kind: Kind
        /// Whether the owner's execute bit was set (kept for executables and scripts).
        public let executable: Bool
        public let bytes: [UInt8]

        public init(path: String, kind: Kind = .file, executable: Bool = false, bytes: [UInt8] = []) {
            self.path = path
            self.kind = kind
            self.executable = executable
            self.bytes = bytes
        }
    }

    /// What an archive may hold at most.
    public struct Limits: Sendable {
        public var maxFiles: Int
        public var maxTotalBytes: Int

        public init(maxFiles: Int = 1000, maxTotalBytes: Int = 64 << 20) {
            self.maxFiles = maxFiles
            self.maxTotalBytes = maxTotalBytes
        }
    }

    public let entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Whether `bytes` look like a tar archive (the ustar magic of its first header).
    public static func isTar(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 512 && Array(bytes[257..<262]) == Array("ustar".utf8)
    }

    // MARK: Reading

    public static func read(_ bytes: [UInt8], limits: Limits = Limits()) throws(PackageError) -> TarArchive {
        var entries: [Entry] = []
        var offset = 0
        var total = 0
        var longName: String?
        while offset + 512 <= bytes.count {
            let header = Array(bytes[offset..<(offset + 512)])
            if header.allSatisfy({ $0 == 0 }) { break }
            try checkChecksum(header, at: offset)
            guard let size = octal(header[124..<136]) else {
                throw PackageError(.malformed, "tar header at byte \(offset) has an unreadable size")
            }
            let dataStart = offset + 512
            guard size >= 0, dataStart + size <= bytes.count else {
                throw PackageError(.malformed, "tar archive is truncated (entry at byte \(offset))")
            }
            let data = Array(bytes[dataStart..<(dataStart + size)])
            offset = dataStart + (size + 511) / 512 * 512
            let type = header[156]
            switch type {
            case UInt8(ascii: "x"):
                longName = paxPath(data) ?? longName
                continue
            case UInt8(ascii: "g"):
                continue
            case UInt8(ascii: "L"):
                longName = string(data[...])
                continue
            default:
                break
            }
            let rawPath = longName ?? headerPath(header)
            longName = nil
            let kind: Entry.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "1"), UInt8(ascii: "2"):
                throw PackageError(
                    .unsafeEntry, "archive entry \"\(rawPath)\" is a link; stub archives may not hold links")
            case UInt8(ascii: "3"), UInt8(ascii: "4"), UInt8(ascii: "6"):
                throw PackageError(
                    .unsafeEntry,
                    "archive entry \"\(rawPath)\" is a device file or FIFO; stub archives may not hold one")
            default:
                throw PackageError(
                    .unsafeEntry,
                    "archive entry \"\(rawPath)\" has tar type '\(Character(Unicode.Scalar(type)))', not a file or directory"
                )
            }
            let path = try safePath(rawPath)
            total += data.count
            guard total <= limits.maxTotalBytes else {
                throw PackageError(.tooLarge, "the archive holds more than \(limits.maxTotalBytes) bytes of files")
            }
            guard entries.count < limits.maxFiles else {
                throw PackageError(.tooLarge, "the archive holds more than \(limits.maxFiles) entries")
            }
            let mode = octal(header[100..<108]) ?? 0
            entries.append(
                Entry(
                    path: path, kind: kind, executable: kind == .file && mode & 0o100 != 0,
                    bytes: kind == .file ? data : []))
        }
        guard !entries.isEmpty else { throw PackageError(.malformed, "the archive holds no files") }
        return TarArchive(entries: entries)
    }

    /// Checks a path as written in the archive and returns it normalised.
    public static func safePath(_ raw: String) throws(PackageError) -> String {
        guard !raw.hasPrefix("/") else {
            throw PackageError(.unsafeEntry, "archive entry \"\(raw)\" has an absolute path")
        }
        guard !raw.contains("\0"), !raw.contains("\\") else {
            throw PackageError(.unsafeEntry, "archive entry \"\(raw)\" has a NUL or backslash in its path")
        }
        let components = raw.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !components.contains("..") else {
            throw PackageError(.unsafeEntry, "archive entry \"\(raw)\" leaves the stub's directory (\"..\")")
        }
        guard !components.isEmpty else {
            throw PackageError(.unsafeEntry, "archive entry \"\(raw)\" has an empty path")
        }
        return components.joined(separator: "/")
    }

    private static func checkChecksum(_ header: [UInt8], at offset: Int) throws(PackageError) {
        guard let stored = octal(header[148..<156]) else {
            throw PackageError(.malformed, "not a tar archive (no header checksum at byte \(offset))")
        }
        var sum = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        guard sum == stored else { throw PackageError(.malformed, "tar header checksum mismatch at byte \(offset)") }
    }

    private static func headerPath(_ header: [UInt8]) -> String {
        let name = string(header[0..<100])
        let isUstar = Array(header[257..<262]) == Array("ustar".utf8)
        let prefix = isUstar ? string(header[345..<500]) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// The `path` record of a pax extended header ("<length> path=<value>\n" records).
    private static func paxPath(_ data: [UInt8]) -> String? {
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(string(data[index..<space])), length > 0, index + length <= data.count
            else { return nil }
            let record = string(data[(space + 1)..<(index + length - 1)])
            if record.hasPrefix("path=") { return String(record.dropFirst(5)) }
            index += length
        }
        return nil
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        let digits = bytes.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }
        if digits.isEmpty { return 0 }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    // MARK: Writing

    /// The archive as ustar bytes (paths up to 255 bytes, split into prefix and name). Entries are written
    /// as given, unchecked: `rethinkctl stub pack` checks its inputs, and tests write hostile archives.
    public func bytes() -> [UInt8] {
        var output: [UInt8] = []
        for entry in entries {
            var header = [UInt8](repeating: 0, count: 512)
            let path = Array(
                (entry.kind == .directory && !entry.path.hasSuffix("/") ? entry.path + "/" : entry.path).utf8)
            if path.count <= 100 {
                header.replaceSubrange(0..<path.count, with: path)
            } else {
                let split = path[..<min(path.count, 156)].lastIndex(of: UInt8(ascii: "/")) ?? 0
                let name = path[(split + 1)...].prefix(100)
                header.replaceSubrange(0..<name.count, with: name)
                let prefix = path[..<split].prefix(155)
                header.replaceSubrange(345..<(345 + prefix.count), with: prefix)
            }
            let mode = entry.kind == .directory || entry.executable ? 0o755 : 0o644
            put(octal: mode, width: 8, at: 100, in: &header)
            put(octal: 0, width: 8, at: 108, in: &header)
            put(octal: 0, width: 8, at: 116, in: &header)
            put(octal: entry.kind == .file ? entry.bytes.count : 0, width: 12, at: 124, in: &header)
            put(octal: 0, width: 12, at: 136, in: &header)
            header[156] = entry.kind == .file ? UInt8(ascii: "0") : UInt8(ascii: "5")
            header.replaceSubrange(257..<265, with: Array("ustar\u{0}00".utf8))
            header.replaceSubrange(148..<156, with: Array(repeating: UInt8(ascii: " "), count: 8))
            let sum = header.reduce(0) { $0 + Int($1) }
            put(octal: sum, width: 7, at: 148, in: &header)
            output += header
            if entry.kind == .file {
                output += entry.bytes
                output += [UInt8](repeating: 0, count: (512 - entry.bytes.count % 512) % 512)
            }
        }
        output += [UInt8](repeating: 0, count: 1024)
        return output
    }

    private func put(octal value: Int, width: Int, at offset: Int, in header: inout [UInt8]) {
        let digits = Array(String(value, radix: 8).utf8)
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, width - 1 - digits.count)) + digits
        header.replaceSubrange(offset..<(offset + padded.count), with: padded)
        header[offset + padded.count] = 0
    }
}
