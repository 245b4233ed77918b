"""The SIP IWStub against sipp as UAS over TCP (scenario sip_peer.xml): REGISTER with digest
authentication, MESSAGE both ways, INVITE/ACK/BYE calls both ways, a restart and bad credentials."""

from __future__ import annotations

import os
import time
import unittest
from pathlib import Path

from harness import Workspace, free_port, port_open, require, wait_for

HOST = "sip.test"
KEY = f"sip.{HOST}"
ALICE = f"sip://{HOST}/alice@{HOST}"
BOB = f"sip://{HOST}/bob@{HOST}"
SCENARIO = Path(__file__).resolve().parent / "sip_peer.xml"


class SipInterworking(Workspace):
    def setUp(self) -> None:
        require("sipp")
        super().setUp()
        self.port = free_port()

    def peer(self, name: str = "sipp", calls: int | None = None, transport: str = "t1"):
        scenario = self.path("peer.xml")
        Path(scenario).write_text(SCENARIO.read_text().replace("@USER@", "alice").replace("@PASSWORD@", "secret"))
        argv = ["sipp", "-sf", scenario, "-t", transport, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(self.port),
                "-nostdin", "-trace_err", "-error_file", self.path(f"{name}-errors.log")]
        if calls:
            argv += ["-m", str(calls)]
        child = self.start(argv, name)
        if transport == "t1":
            wait_for(lambda: port_open(self.port), 5, "sipp")  # over UDP there is nothing to probe: the stub retries
        return child

    def runtime(self, password: str = "secret", **configuration):
        return self.iw_runtime("sip", KEY, self.port, {"user": "alice", "password": password}, **configuration)

    def test_register_message_both_ways_and_a_call_against_sipp(self) -> None:
        # calls seen by sipp: the registration (with its MESSAGE to alice), our MESSAGE, our INVITE/BYE, the 404
        sipp = self.peer(calls=4)
        client = self.runtime()
        client.listen(ALICE)
        client.status(KEY, "live")
        inbound = client.next(lambda m: m.get("to") == ALICE and m.get("type") == "create")
        self.assertEqual(inbound["from"], BOB)
        self.assertEqual(inbound["body"]["value"].strip(), "hello from sipp")
        client.answer(inbound, 200)
        # then bob calls alice: the INVITE is a request to alice's address; answering it 200 accepts the call
        call = client.next(lambda m: m.get("to") == ALICE and isinstance(m["body"].get("value"), dict)
                           and m["body"]["value"].get("call") == "invite")
        self.assertEqual(call["from"], BOB)
        client.answer(call, 200)
        hangup = client.next(lambda m: m.get("to") == ALICE and m.get("type") == "delete")
        self.assertEqual(hangup["body"]["value"]["call"], call["body"]["value"]["callId"])

        message = client.send(client.url, BOB, "hello bob")
        self.assertEqual(message["body"]["code"], 200, message)
        self.assertEqual(message["body"]["value"]["sip"]["code"], 200)

        client.ids += 1
        invite = {"id": f"call-{client.ids}", "type": "create", "from": client.url, "to": BOB,
                  "body": {"value": {"call": "invite"}}}
        client.write(invite)
        ringing = client.next(lambda m: m.get("id") == invite["id"])
        self.assertEqual(ringing["body"]["code"], 180)
        answered = client.next(lambda m: m.get("id") == invite["id"])
        self.assertEqual(answered["body"]["code"], 200, answered)
        call = answered["body"]["value"]["call"]
        bye = client.request({"type": "delete", "from": client.url, "to": BOB, "body": {"value": {"call": call}}})
        self.assertEqual(bye["body"]["code"], 200, bye)

        missing = client.send(client.url, f"sip://{HOST}/nobody@{HOST}", "anyone?")
        self.assertEqual(missing["body"]["code"], 404, missing)
        self.assertEqual(sipp.proc.wait(10), 0, f"sipp saw a failed call: {sipp.output()[-2000:]}")

    def test_peer_restart_goes_disconnected_then_live_with_every_request_answered(self) -> None:
        sipp = self.peer()
        client = self.runtime()
        client.listen(ALICE)
        client.status(KEY, "live")
        self.assert_outage_answered(client, KEY, sipp, lambda: self.peer("sipp-again"),
                                    lambda: client.send(client.url, BOB, "lost"))
        self.assertEqual(client.send(client.url, BOB, "back")["body"]["code"], 200)

    def test_over_udp_calls_messages_and_a_restart_noticed_by_keepalives(self) -> None:
        sipp = self.peer(transport="u1")
        client = self.runtime(transport="udp", keepAliveSeconds=0.3)
        client.listen(ALICE)
        client.status(KEY, "live")
        # sipp retransmits its MESSAGE over UDP until answered: alice gets it once
        inbound = client.next(lambda m: m.get("to") == ALICE and m.get("type") == "create"
                              and m["body"]["value"].strip() == "hello from sipp")
        time.sleep(1.2)
        self.assertFalse([m for m in client.inbox if m.get("type") == "create"], "a retransmission was delivered")
        client.answer(inbound, 200)
        call = client.next(lambda m: m.get("to") == ALICE and isinstance(m["body"].get("value"), dict))
        client.answer(call, 200)
        client.next(lambda m: m.get("to") == ALICE and m.get("type") == "delete")
        self.assertEqual(client.send(client.url, BOB, "over udp")["body"]["code"], 200)
        # no connection to lose: the next keep-alive OPTIONS meets an unreachable port
        self.assert_outage_answered(client, KEY, sipp, lambda: self.peer("sipp-again", transport="u1"),
                                    lambda: client.send(client.url, BOB, "lost"))
        self.assertEqual(client.send(client.url, BOB, "back")["body"]["code"], 200)

    def test_bad_credentials_fail_with_an_actionable_reason(self) -> None:
        self.peer()
        client = self.runtime(password="wrong")
        self.assert_stub_failed(client, KEY, client.send(client.url, BOB, "hi"), "credentials of alice", f"{KEY}.json")



KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
alias="@HOST@"
listen=tcp:127.0.0.1:@PORT@
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("REGISTER")) { save("location"); exit; }
    if (has_totag()) { if (loose_route() || is_method("ACK")) { t_relay(); exit; } }
    if (is_method("INVITE")) { record_route(); }
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    t_relay();
}
"""


class SipThroughKamailio(Workspace):
    """Two runtimes, alice's and bob's, each with the SIP IWStub registered at a real kamailio (registrar and
    proxy, on 127.0.0.1): the stub needs one (docs/stubs/sip.md), it never takes a peer's connection itself."""

    def setUp(self) -> None:
        require("kamailio")
        super().setUp()
        self.port = free_port()
        config = self.path("kamailio.cfg")
        Path(config).write_text(KAMAILIO_CFG.replace("@HOST@", HOST).replace("@PORT@", str(self.port)))
        os.makedirs(self.path("kamailio-run"), exist_ok=True)
        self.start(["kamailio", "-DD", "-E", "-f", config, "-Y", self.path("kamailio-run"), "-P",
                    self.path("kamailio.pid")], "kamailio")
        wait_for(lambda: port_open(self.port), 10, "kamailio")

    def runtime(self, name: str, user: str):
        catalogue = self.catalogue({KEY: self.bundled("templates/sip", {
            "servers": [f"127.0.0.1:{self.port}"], "transport": "tcp",
            "reconnect": {"initialSeconds": 0.05, "maxSeconds": 0.5}})})
        client = self.daemon(name, f"{name}.test", catalogue,
                             credentials={KEY: {"user": user, "password": "unused-without-a-challenge"}}).client()
        client.watch_status()
        return client

    def test_alice_and_bob_on_two_runtimes_message_and_call_each_other_through_the_registrar(self) -> None:
        a, b = self.runtime("runtime-a", "alice"), self.runtime("runtime-b", "bob")
        a.listen(ALICE)
        b.listen(BOB)
        a.status(KEY, "live")
        b.status(KEY, "live")
        for sender, receiver, frm, to, text in ((a, b, ALICE, BOB, "hello bob"), (b, a, BOB, ALICE, "hello alice")):
            sender.ids += 1
            request = {"id": f"m-{sender.ids}", "type": "create", "from": sender.url, "to": to,
                       "body": {"value": text}}
            sender.write(request)
            try:
                inbound = receiver.next(lambda m: m.get("to") == to and m.get("type") == "create", 10)
            except AssertionError as missing:  # what the sender heard back says where the message stopped
                sender.take_available()
                raise AssertionError(f"{missing}; the sender's inbox: {sender.inbox}") from None
            self.assertEqual(inbound["from"], frm)
            self.assertEqual(inbound["body"]["value"].strip(), text)
            receiver.answer(inbound, 200)
            answer = sender.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 10)
            self.assertEqual(answer["body"]["code"], 200, answer)
        # a call, alice to bob: INVITE through the proxy (which stays on the route), bob accepts, alice hangs up
        a.ids += 1
        invite = {"id": f"call-{a.ids}", "type": "create", "from": a.url, "to": BOB,
                  "body": {"value": {"call": "invite"}}}
        a.write(invite)
        ring = b.next(lambda m: m.get("to") == BOB and isinstance(m["body"].get("value"), dict)
                      and m["body"]["value"].get("call") == "invite", 10)
        self.assertEqual(ring["from"], ALICE)
        b.answer(ring, 200)
        answered = a.next(lambda m: m.get("id") == invite["id"] and m["body"]["code"] >= 200, 10)
        self.assertEqual(answered["body"]["code"], 200, answered)
        call = answered["body"]["value"]["call"]
        a.ids += 1
        bye = {"id": f"bye-{a.ids}", "type": "delete", "from": a.url, "to": BOB, "body": {"value": {"call": call}}}
        a.write(bye)
        hangup = b.next(lambda m: m.get("to") == BOB and m.get("type") == "delete", 10)
        self.assertEqual(hangup["body"]["value"]["call"], ring["body"]["value"]["callId"])
        self.assertEqual(a.next(lambda m: m.get("id") == bye["id"] and m["body"]["code"] >= 200, 10)["body"]["code"],
                         200)
        missing = a.send(a.url, f"sip://{HOST}/nobody@{HOST}", "anyone?")
        self.assertEqual(missing["body"]["code"], 404, missing)

if __name__ == "__main__":
    unittest.main()
