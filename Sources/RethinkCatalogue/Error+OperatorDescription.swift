import FoundationEssentials
import Glibc

extension Error {
    /// This error in an operator's words. FileManager's `CocoaError` has no readable description of its own (with
    /// Foundation, which the daemon no longer links, NSError bridging supplied one): a failed file operation is told
    /// by the system's reason and the file, "Permission denied: /var/lib/x".
    package var operatorDescription: String {
        guard let error = self as? CocoaError else { return "\(self)" }
        let reason =
            (error.underlying as? POSIXError).map { String(cString: strerror($0.code.rawValue)) }
            ?? "file operation failed (Cocoa error \(error.code.rawValue))"
        return error.filePath.map { "\(reason): \($0)" } ?? reason
    }
}
