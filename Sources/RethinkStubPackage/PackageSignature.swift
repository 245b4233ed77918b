import Crypto
import FoundationEssentials
import RethinkMessages

/// Ed25519 signatures over a stub package's bytes (SPEC section 7: the descriptor's `signature`, base64).
///
/// Keys travel as base64 of their 32 raw bytes, one per file or config entry: what `rethinkctl stub keygen`
/// writes and what the operator pastes into `discovery.trustedKeys`.
public enum PackageSignature {
    /// The lowercase hex SHA-256 of `bytes`: the descriptor's `sha256` and the cache's key.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).lowercaseHex
    }

    public static func makeKeyPair() -> (privateKey: String, publicKey: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (
            Data(key.rawRepresentation).base64EncodedString(),
            Data(key.publicKey.rawRepresentation).base64EncodedString()
        )
    }

    public static func publicKey(_ base64: String) throws(PackageError) -> Curve25519.Signing.PublicKey {
        guard let raw = Data(base64Encoded: base64.trimmingWhitespace()),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else {
            throw PackageError(
                .signature, "\"\(base64.prefix(16))...\" is not an Ed25519 public key (base64 of 32 bytes)")
        }
        return key
    }

    /// The base64 signature of `bytes` by the private key `privateKeyBase64`.
    public static func sign(_ bytes: [UInt8], privateKey privateKeyBase64: String) throws(PackageError) -> String {
        guard let raw = Data(base64Encoded: privateKeyBase64.trimmingWhitespace()),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw PackageError(.signature, "not an Ed25519 private key (base64 of 32 bytes)")
        }
        do {
            return try key.signature(for: Data(bytes)).base64EncodedString()
        } catch {
            throw PackageError(.signature, "signing failed: \(error)")
        }
    }

    /// Checks that `signature` over `bytes` was made by one of `trustedKeys`; returns the index of the key.
    @discardableResult
    public static func verify(_ bytes: [UInt8], signature: String?, trustedKeys: [Curve25519.Signing.PublicKey])
        throws(PackageError) -> Int
    {
        guard let signature, !signature.isEmpty else {
            throw PackageError(.signature, "the package is not signed, and this runtime only runs signed packages")
        }
        guard let raw = Data(base64Encoded: signature) else {
            throw PackageError(.signature, "the package's signature is not base64")
        }
        let data = Data(bytes)
        for (index, key) in trustedKeys.enumerated() where key.isValidSignature(raw, for: data) {
            return index
        }
        throw PackageError(
            .signature, "the package's signature does not verify against any of the \(trustedKeys.count) trusted key(s)"
        )
    }
}
