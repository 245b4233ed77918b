/// Joins the two records that make a denial: the access record names the Landlock domain (an id), and the
/// domain record the kernel writes the first time that domain denies anything names the process that
/// created it, which is the stub (the spawn shim restricts itself and then executes the stub).
///
/// Hand-written: the audit record format is key=value text with the kernel's own quoting (a quoted string,
/// or hex for a value holding spaces or quotes); no Swift library reads it.
struct LandlockAuditParser {
    static let accessRecord: UInt16 = 1423
    static let domainRecord: UInt16 = 1424

    /// The process behind each live domain id.
    private var domains: [String: Int32] = [:]
    /// Denials of a domain whose domain record has not come yet (it follows in the same event).
    private var pending: [String: [(blockers: String, object: String)]] = [:]
    private var pendingCount = 0
    static let maxPending = 256

    /// Feeds one record; returns the denials it completes.
    mutating func feed(type: UInt16, text: String) -> [LandlockDenial] {
        guard type == Self.accessRecord || type == Self.domainRecord else { return [] }
        let fields = Self.fields(of: text)
        guard let domain = fields["domain"] else { return [] }
        if type == Self.accessRecord {
            guard let blockers = fields["blockers"] else { return [] }
            let object = Self.object(of: fields)
            if let pid = domains[domain] { return [LandlockDenial(pid: pid, blockers: blockers, object: object)] }
            guard pendingCount < Self.maxPending else { return [] }
            pending[domain, default: []].append((blockers, object))
            pendingCount += 1
            return []
        }
        switch fields["status"] {
        case "allocated":
            guard let pid = fields["pid"].flatMap({ Int32($0) }) else { return [] }
            domains[domain] = pid
            let waiting = pending.removeValue(forKey: domain) ?? []
            pendingCount -= waiting.count
            return waiting.map { LandlockDenial(pid: pid, blockers: $0.blockers, object: $0.object) }
        case "deallocated":
            domains[domain] = nil
            pendingCount -= pending.removeValue(forKey: domain)?.count ?? 0
            return []
        default:
            return []
        }
    }

    /// What a denial was about, from the access record's fields.
    static func object(of fields: [String: String]) -> String {
        if let path = fields["path"] { return path }
        if let port = fields["dest"] ?? fields["src"] { return "port \(port)" }
        if let pid = fields["opid"] { return "process \(pid)" + (fields["ocomm"].map { " (\($0))" } ?? "") }
        if let name = fields["name"] { return name }
        return ""
    }

    /// The record's `key=value` fields, values unquoted or hex-decoded as the kernel wrote them.
    static func fields(of text: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(text)
        // The header "audit(1796298022.308:3): " comes first.
        if rest.hasPrefix("audit("), let close = rest.firstIndex(of: ":"), let end = rest[close...].firstIndex(of: " ") {
            rest = rest[rest.index(after: end)...]
        }
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            let value: Substring
            if rest.first == "\"" {
                let body = rest.dropFirst()
                let end = body.firstIndex(of: "\"") ?? body.endIndex
                value = body[..<end]
                rest = end < body.endIndex ? body[body.index(after: end)...] : ""
                result[key] = String(value)
                continue
            }
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            value = rest[..<end]
            rest = rest[end...]
            result[key] = key == "path" || key == "name" || key == "ocomm" ? hexDecoded(value) ?? String(value) : String(value)
        }
        return result
    }

    /// An untrusted string the kernel wrote as hex (it held a space, a quote or a control character).
    static func hexDecoded(_ value: Substring) -> String? {
        guard value.count >= 2, value.count % 2 == 0, value.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var index = value.startIndex
        while index < value.endIndex {
            let next = value.index(index, offsetBy: 2)
            guard let byte = UInt8(value[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
