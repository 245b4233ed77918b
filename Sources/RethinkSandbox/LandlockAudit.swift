import CRethinkSpawn
import Glibc
import Logging

/// Where the daemon learns which file (or signal, or port) Landlock refused a stub: the kernel's audit,
/// read from its read-only multicast group. Landlock tells the refused process only EACCES; the audit
/// record names the path and the rights, and the domain record names the process.
///
/// It needs CAP_AUDIT_READ (a root daemon; a DynamicUser one has none) and the kernel's audit on. When it
/// is off and the daemon may turn it on (CAP_AUDIT_CONTROL) it does, once, and says so: with no audit
/// daemon the kernel then also copies its records to the kernel log, rate-limited.
/// `@unchecked Sendable`: handed to the supervisor once, then read on its thread only (under its mutex).
final class LandlockAudit: @unchecked Sendable {
    let fd: CInt
    private var parser = LandlockAuditParser()
    /// One record at a time (the kernel's audit records are at most MAX_AUDIT_MESSAGE_LENGTH, 8970 bytes).
    private var record = [CChar](repeating: 0, count: 8960)

    /// Why a daemon cannot see file denials, for its start-up log line (nil: it can).
    enum Unavailable: Error {
        case noAccess(String)
        case auditOff
    }

    /// Joins the audit log; with `enable`, turns the kernel's audit on if it is off.
    static func open(enable: Bool, logger: Logger) -> Result<LandlockAudit, Unavailable> {
        let fd = rt_audit_open_readlog()
        guard fd >= 0 else { return .failure(.noAccess(SandboxError.describe(errno: Glibc.errno))) }
        let enabled = rt_audit_enabled()
        if enabled == 0 {
            guard enable, rt_audit_enable() == 0 else {
                close(fd)
                return .failure(.auditOff)
            }
            logger.notice(
                "the kernel's audit was off; turned it on so that Landlock's denials name the file a stub was refused (sandbox.auditDenials: false leaves it alone)")
        }
        return .success(LandlockAudit(fd: fd))
    }

    private init(fd: CInt) {
        self.fd = fd
    }

    /// Reads every record waiting; returns the denials they complete.
    func drain() -> [LandlockDenial] {
        var denials: [LandlockDenial] = []
        while true {
            var type: UInt16 = 0
            let length = record.withUnsafeMutableBufferPointer { rt_audit_receive(fd, &type, $0.baseAddress, $0.count) }
            if length < 0 {
                if Glibc.errno == EINTR { continue }
                // EAGAIN: drained. ENOBUFS: the kernel dropped records while the daemon was busy; carry on.
                if Glibc.errno == ENOBUFS { continue }
                return denials
            }
            guard type == LandlockAuditParser.accessRecord || type == LandlockAuditParser.domainRecord else { continue }
            let text = record.prefix(Int(length)).withUnsafeBufferPointer {
                String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self)
            }
            denials += parser.feed(type: type, text: text)
        }
    }
}
