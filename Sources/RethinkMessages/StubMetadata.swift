import Logging

/// The journal fields of a line about a stub (docs/OPERATIONS.md lists them), spelt once for every module, so
/// that `journalctl RETHINK_STUB_URL=...` or `RETHINK_DOMAIN=...` finds each line the runtime wrote about it.
public enum StubMetadata {
    public static func of(
        url: String? = nil, domain: DomainKey? = nil, pid: Int32? = nil, status: String? = nil,
        reason: StatusReason? = nil, messageID: String? = nil
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let url { metadata["rethink_stub_url"] = "\(url)" }
        if let domain { metadata["rethink_domain"] = "\(domain)" }
        if let pid { metadata["rethink_stub_pid"] = "\(pid)" }
        if let status { metadata["rethink_status"] = "\(status)" }
        if let reason { metadata["rethink_reason"] = "\(reason.rawValue)" }
        if let messageID { metadata["message_id"] = "\(messageID)" }
        return metadata
    }
}
