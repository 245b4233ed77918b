/// Why a stub package was refused or could not be built: what failed and what to do. The Runtime UA turns it
/// into the `desc` of `deployment-failed`; `rethinkctl stub` prints it.
public struct PackageError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// Not gzip or not a tar archive, or truncated.
        public static let malformed = Code(name: "malformed")
        /// A path or entry type that would escape or abuse the stub's directory.
        public static let unsafeEntry = Code(name: "unsafe-entry")
        /// Over the size or file-count limit.
        public static let tooLarge = Code(name: "too-large")
        /// The signature does not verify, is missing, or a key is unusable.
        public static let signature = Code(name: "signature")
        /// Writing the unpacked files failed.
        public static let io = Code(name: "io")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
