import RethinkMessages

/// Why a stub package was refused: which entry, which limit, which signature, in words an operator can act on.
public typealias PackageError = RuntimeFailure<PackageFailureKind>

public enum PackageFailureKind: FailureKind {}

extension RuntimeFailure.Code where Kind == PackageFailureKind {
    /// Not gzip or not a tar archive, or truncated.
    public static var malformed: Self { Self("malformed") }
    /// A path or entry type that would escape or abuse the stub's directory.
    public static var unsafeEntry: Self { Self("unsafe-entry") }
    /// Over the size or file-count limit.
    public static var tooLarge: Self { Self("too-large") }
    /// The signature does not verify, is missing, or a key is unusable.
    public static var signature: Self { Self("signature") }
    /// Writing the unpacked files failed.
    public static var io: Self { Self("io") }
}
