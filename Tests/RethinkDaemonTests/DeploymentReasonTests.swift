import RethinkMessages
import RethinkRuntimeUA
import RethinkTestKit
import Testing

/// The status reason a failed deployment carries comes from its typed code, never from its text.
struct DeploymentReasonTests {
    @Test func eachFailureCodeGivesItsReason() {
        let cases: [(DeploymentFailureCode, StatusReason)] = [
            (.noDescriptor, .noDescriptor), (.credentials, .authenticationFailed), (.spawn, .spawnFailed),
            (.timedOut, .timedOut), (.handshake, .handshakeFailed), (.badDescriptor, .refusedPackage),
            (.badPackage, .refusedPackage), (.integrity, .refusedPackage), (.unsupported, .refusedPackage),
        ]
        for (code, reason) in cases {
            // The same words under another code do not change the reason.
            let error = DeploymentFailure(code, "the stub did not answer the deploy message within 10 ms")
            #expect(error.reason == reason, "\(code)")
        }
    }
}
