import Foundation
import RethinkCatalogue
import RethinkMessages
import RethinkSandbox
import Testing

/// reTHINK's published descriptor forms, as published (SPEC section 7), parsed without a daemon.
struct ReThinkDescriptorTests {
    static let domain = DomainKey("acme.example")!

    static func parse(_ json: JSONValue, origin: String = "/catalogue/acme.example.json", baseURL: String? = nil)
        throws(DeploymentFailure) -> Descriptor
    {
        try Descriptor.parse(
            json.jsonBytes, domain: domain, origin: origin, directory: (origin as NSString).deletingLastPathComponent,
            binariesDirectory: nil, baseURL: baseURL)
    }

    @Test(arguments: [
        "Javascript ECMA5", "Javascript ECMA6", "JAVASCRIPT_ECMA6", "JAVASCRIPT_ECMA5", "javascript", "JavaScript",
        "javascript-ecma6",
    ])
    func reThinksLanguageSpellingsAreJavaScript(_ spelling: String) {
        #expect(StubLanguage(descriptorValue: spelling) == .javascript)
    }

    @Test func anUnknownLanguageIsStillRefused() {
        #expect(StubLanguage(descriptorValue: "Javascript ECMA7") == nil)
        #expect(StubLanguage(descriptorValue: "cobol") == nil)
    }

    @Test func theOldStatusConnectedIsLive() {
        #expect(StubStatus(reported: "connected") == .live)
        #expect(StubStatus(reported: "CONNECTED") == .live)
        #expect(StubStatus(reported: "live") == .live)
    }

    @Test func theClassicInlinePackageWithAnEmptyConfigurationListParses() throws {
        let code = "module.exports = function activate() { return {}; };"
        let descriptor = try Self.parse([
            "cguid": 69_432_943_276, "version": "1.0", "objectName": "default", "language": "Javascript ECMA6",
            "dataObjects": [], "configuration": [], "constraints": [], "messageSchemas": [],
            "sourcePackage": [
                "encoding": "base64", "sourceCodeClasname": "defaultStub",
                "sourceCode": .string(Data(code.utf8).base64EncodedString()),
            ],
        ])
        #expect(descriptor.language == .javascript)
        #expect(descriptor.configuration == .object([]))
        #expect(descriptor.version == "1.0")
        #expect(descriptor.source == .inline(bytes: Array(code.utf8), name: "defaultStub.js"))
    }

    @Test func aConfigurationThatIsANonEmptyListIsRefused() {
        #expect(throws: DeploymentFailure.self) {
            try Self.parse(["language": "javascript", "sourcePackageURL": "x.js", "configuration": [1]])
        }
    }

    @Test func aLocalPsJsonFindsItsCodeBesideIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rethink-psjson-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let descriptor: JSONValue = ["language": "javascript", "objectName": "default", "configuration": [:]]
        try Data(descriptor.jsonBytes).write(to: directory.appendingPathComponent("acme.example.ps.json"))
        let catalogue = LocalCatalogue(directories: [directory.path], binariesDirectory: nil)

        // No code yet: refused, naming the files looked for.
        #expect {
            try catalogue.descriptor(for: Self.domain)
        } throws: { error in
            "\(error)".contains("acme.example.ps.js") && "\(error)".contains("default.ps.js")
        }
        // reTHINK names the code after the object: default.ps.js is found too.
        try Data("x".utf8).write(to: directory.appendingPathComponent("default.ps.js"))
        #expect(try catalogue.descriptor(for: Self.domain).source == .file(directory.path + "/default.ps.js"))
        // The descriptor's own name wins.
        try Data("y".utf8).write(to: directory.appendingPathComponent("acme.example.ps.js"))
        #expect(try catalogue.descriptor(for: Self.domain).source == .file(directory.path + "/acme.example.ps.js"))
    }

    @Test func aWellKnownPsJsonNamesItsCodeBesideIt() throws {
        let json: JSONValue = ["language": "javascript", "objectName": "default", "signature": ""]
        let psJSON = try Self.parse(
            json, origin: "https://acme.example/.well-known/protocolstub/default.ps.json",
            baseURL: "https://acme.example/.well-known/protocolstub/default.ps.json")
        #expect(psJSON.source == .remote("https://acme.example/.well-known/protocolstub/default.ps.js"))
        #expect(psJSON.sha256 == nil)
        let bare = try Self.parse(
            json, origin: "https://acme.example/.well-known/protocolstub/default",
            baseURL: "https://acme.example/.well-known/protocolstub/default")
        #expect(bare.source == .remote("https://acme.example/.well-known/protocolstub/default.ps.js"))
    }

    @Test func aPythonDescriptorWithoutSourcePackageURLIsStillRefused() {
        #expect(throws: DeploymentFailure.self) {
            try Self.parse(["language": "python"], baseURL: "https://acme.example/.well-known/protocolstub/default")
        }
    }
}
