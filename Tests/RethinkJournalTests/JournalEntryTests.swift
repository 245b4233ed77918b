import Testing

@testable import RethinkJournal

@Suite struct JournalEntryTests {
    @Test func metadataKeysBecomeUpperCaseJournalFieldNames() {
        #expect(JournalEntry.fieldName(for: "rethink_stub_url") == "RETHINK_STUB_URL")
        #expect(JournalEntry.fieldName(for: "message_id") == "MESSAGE_ID")
        #expect(JournalEntry.fieldName(for: "stub.pid") == "STUB_PID")
    }

    @Test func fieldNamesNeverStartWithUnderscoreOrDigitNorExceed64Characters() {
        #expect(JournalEntry.fieldName(for: "_PID") == "PID")
        #expect(JournalEntry.fieldName(for: "9lives") == "LIVES")
        #expect(JournalEntry.fieldName(for: "__") == nil)
        #expect(JournalEntry.fieldName(for: String(repeating: "a", count: 100))?.count == 64)
    }

    @Test func aSingleLineValueIsWrittenAsNameEqualsValue() {
        var entry = JournalEntry()
        entry.append("MESSAGE", "hello")
        #expect(entry.bytes == Array("MESSAGE=hello\n".utf8))
    }

    @Test func aMultiLineValueIsWrittenLengthPrefixed() {
        var entry = JournalEntry()
        entry.append("MESSAGE", "a\nb")
        #expect(entry.bytes == Array("MESSAGE\n".utf8) + [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\n".utf8))
    }

    @Test func stubPrioritiesMapToSyslogLevels() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.debug) == 7)
    }
}
