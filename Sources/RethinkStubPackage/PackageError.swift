import RethinkMessages

/// Why a stub package was refused: which entry, which limit, which signature, in words an operator can act on.
public typealias PackageError = RuntimeFailure<PackageFailureCode>

public enum PackageFailureCode: String, FailureCode {
    /// Not gzip or not a tar archive, or truncated; `tooLarge`: over the size or file-count limit.
    case malformed, tooLarge = "too-large"
    /// A path or entry type that would escape or abuse the stub's directory.
    case unsafeEntry = "unsafe-entry"
    /// The signature does not verify, is missing, or a key is unusable; `io`: writing the unpacked files failed.
    case signature, io
}
