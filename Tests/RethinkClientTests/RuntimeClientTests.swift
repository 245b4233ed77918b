import NIOCore
import NIOEmbedded
import RethinkMessages
import Testing

@testable import RethinkClient

/// The client library on NIO's testing channel, without a daemon: the greeting, one final response per
/// request, what answers no request going to the inbox, and a closed connection failing what waits.
struct RuntimeClientTests {
    static let greeting =
        #"{"type":"response","id":0,"from":"hyperty-runtime://r","to":"hyperty-runtime://r/client/1","code":200,"body":{"value":{"runtimeURL":"hyperty-runtime://r","clientURL":"hyperty-runtime://r/client/1","version":"t","maxMessageBytes":1024}}}"#

    /// A client greeted on a testing channel.
    static func client() async throws -> (RuntimeClient, NIOAsyncTestingChannel) {
        let channel = NIOAsyncTestingChannel()
        async let client = RuntimeClient.attach(to: channel, timeout: .seconds(5))
        try await handlerAdded(to: channel)
        try await channel.writeInbound(ByteBuffer(string: greeting + "\n"))
        return (try await client, channel)
    }

    /// Waits until the client's handler is in the pipeline: a line written before would pass it by.
    static func handlerAdded(to channel: NIOAsyncTestingChannel) async throws {
        while (try? await channel.pipeline.handler(type: ClientHandler.self).get()) == nil {
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// The next line the client wrote, as a message.
    static func written(_ channel: NIOAsyncTestingChannel) async throws -> Message {
        var buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        return try Message.parse(Array(bytes.dropLast()))
    }

    static func answer(_ request: Message, code: Int, on channel: NIOAsyncTestingChannel) async throws {
        let line = request.response(code: code)
        try await channel.writeInbound(ByteBuffer(bytes: line.bytes + [UInt8(ascii: "\n")]))
    }

    @Test func theGreetingNamesTheClient() async throws {
        let (client, _) = try await Self.client()
        #expect(client.greeting.clientURL == "hyperty-runtime://r/client/1")
        #expect(client.greeting.maxMessageBytes == 1024)
    }

    @Test func aProvisionalResponseDoesNotEndARequestAndASecondFinalOneIsCountedNotDelivered() async throws {
        let (client, channel) = try await Self.client()
        async let response = client.request(.read, to: "hyperty://acme.example/x")
        let request = try await Self.written(channel)
        #expect(request.from == client.greeting.clientURL)
        try await Self.answer(request, code: 100, on: channel)
        try await Self.answer(request, code: 200, on: channel)
        #expect(try await response.code == 200)
        try await Self.answer(request, code: 200, on: channel)
        #expect(await client.next(timeout: .milliseconds(100))?.code == 100, "the provisional one goes to the inbox")
        #expect(await client.next(timeout: .milliseconds(100)) == nil, "the duplicate is not delivered")
        #expect(client.duplicateFinalResponses == 1)
    }

    @Test func aMessageThatAnswersNoRequestGoesToTheInbox() async throws {
        let (client, channel) = try await Self.client()
        let delivery = Message.make(id: .int(7), type: .create, from: "hyperty://b/x", to: client.greeting.clientURL)
        try await channel.writeInbound(ByteBuffer(bytes: delivery.bytes + [UInt8(ascii: "\n")]))
        #expect(await client.next(timeout: .seconds(1))?.type == .create)
    }

    @Test func aClosedConnectionFailsTheRequestsThatWait() async throws {
        let (client, channel) = try await Self.client()
        let response = Task { try await client.request(.read, to: "hyperty://acme.example/x") }
        _ = try await Self.written(channel)
        try await channel.close()
        await #expect(throws: RuntimeClientError.self) { try await response.value }
    }

    @Test func aFirstLineThatIsNotAGreetingIsRefused() async throws {
        let channel = NIOAsyncTestingChannel()
        let client = Task { try await RuntimeClient.attach(to: channel, timeout: .seconds(5)) }
        try await Self.handlerAdded(to: channel)
        try await channel.writeInbound(ByteBuffer(string: #"{"type":"create","id":1,"from":"a","to":"b"}"# + "\n"))
        let error = await #expect(throws: RuntimeClientError.self) { _ = try await client.value }
        #expect(error?.message.contains("was not a greeting") == true, "\(error?.message ?? "")")
    }
}
