import Testing

@testable import RethinkSandbox

/// The kernel's audit records of Landlock denials (as printed on this machine's 6.18 kernel), joined into
/// "which stub was refused what".
struct LandlockAuditParserTests {
    @Test func anAccessRecordIsJoinedToTheProcessOfItsDomainRecord() {
        var parser = LandlockAuditParser()
        let access = #"audit(1796298022.308:3): domain=1ce875fe0 blockers=fs.read_file path="/etc/shadow" dev="vda" ino=611"#
        #expect(parser.feed(type: 1423, text: access).isEmpty, "the domain's process comes in the next record")
        let domain = #"audit(1796298022.308:3): domain=1ce875fe0 status=allocated mode=enforcing pid=7824 uid=0 exe="/usr/bin/python3.11" comm="python3""#
        #expect(
            parser.feed(type: 1424, text: domain)
                == [LandlockDenial(pid: 7824, blockers: "fs.read_file", object: "/etc/shadow")])
        let again = #"audit(1796298023.001:9): domain=1ce875fe0 blockers=fs.write_file,fs.make_reg path="/etc/cron.d" dev="vda" ino=77"#
        #expect(
            parser.feed(type: 1423, text: again)
                == [LandlockDenial(pid: 7824, blockers: "fs.write_file,fs.make_reg", object: "/etc/cron.d")])
    }

    @Test func aDeallocatedDomainIsForgottenAndOtherRecordTypesAreIgnored() {
        var parser = LandlockAuditParser()
        _ = parser.feed(type: 1424, text: "domain=aa status=allocated mode=enforcing pid=10 uid=0")
        _ = parser.feed(type: 1424, text: "domain=aa status=deallocated denials=1")
        #expect(parser.feed(type: 1423, text: #"domain=aa blockers=fs.read_file path="/x""#).isEmpty)
        #expect(parser.feed(type: 1300, text: "arch=c000003e syscall=257 success=no exit=-13 pid=10").isEmpty)
    }

    @Test func hexEncodedPathsSignalsAndPortsAreNamed() {
        var parser = LandlockAuditParser()
        _ = parser.feed(type: 1424, text: "domain=b1 status=allocated mode=enforcing pid=42 uid=0")
        // A path with a space is written in hex, unquoted.
        let hex = "domain=b1 blockers=fs.read_file path=2F746D702F6120622E747874 dev=\"vda\" ino=5"
        #expect(parser.feed(type: 1423, text: hex).first?.object == "/tmp/a b.txt")
        // A file name holding a newline would start a line of its own in a log: it is escaped.
        let newline = "domain=b1 blockers=fs.read_file path=2F746D702F610A666F7267656420 dev=\"vda\" ino=5"
        #expect(parser.feed(type: 1423, text: newline).first?.description == "fs.read_file on /tmp/a\\x0aforged ")
        let signal = #"domain=b1 blockers=scope.signal opid=1 ocomm="systemd""#
        #expect(parser.feed(type: 1423, text: signal).first?.description == "scope.signal on process 1 (systemd)")
        let port = "domain=b1 blockers=net.bind_tcp saddr=0.0.0.0 src=8080"
        #expect(parser.feed(type: 1423, text: port).first?.description == "net.bind_tcp on port 8080")
    }

    @Test func denialsOfDomainsNeverNamedAreBoundedNotHoarded() {
        var parser = LandlockAuditParser()
        for index in 0..<(LandlockAuditParser.maxPending + 50) {
            _ = parser.feed(type: 1423, text: "domain=\(index) blockers=fs.read_file path=\"/x\"")
        }
        _ = parser.feed(type: 1424, text: "domain=0 status=allocated mode=enforcing pid=7 uid=0")
        let late = parser.feed(type: 1424, text: "domain=\(LandlockAuditParser.maxPending + 10) status=allocated pid=8")
        #expect(late.isEmpty, "past the bound, denials of unknown domains are dropped")
    }
}
