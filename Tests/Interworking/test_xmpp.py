"""The XMPP IWStub against a real prosody with two registered users: the runtime logs in as alice, a
slixmpp client is bob; chat messages and presence in both directions, over STARTTLS with a certificate
made for the test (the stub and slixmpp trust it through a CA file)."""

from __future__ import annotations

import asyncio
import os
import pwd
import queue
import shutil
import subprocess
import threading
import unittest

from harness import Workspace, free_port, port_open, require, wait_for

HOST = "chat.test"
KEY = f"xmpp.{HOST}"
ALICE = f"xmpp://{HOST}/alice@{HOST}"
BOB = f"xmpp://{HOST}/bob@{HOST}"
ROOMS = f"conference.{HOST}"
ROOM = f"xmpp://{HOST}/lobby@{ROOMS}"
# prosody refuses to run as root: as root, the test runs it (and registers users) as this user
USER = "nobody"
ROOT = os.geteuid() == 0


class NativeXmpp:
    """bob on slixmpp, in a thread with its own asyncio loop."""

    def __init__(self, port: int, jid: str, password: str, ca_file: str) -> None:
        import slixmpp
        self.messages: queue.Queue = queue.Queue()
        self.presences: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        self.room_messages: queue.Queue = queue.Queue()
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            # slixmpp's tasks can fail noisily while the test tears the connection down; nothing to check there
            self.loop.set_exception_handler(lambda loop, context: None)
            self.client = slixmpp.ClientXMPP(jid, password)
            self.client.ca_certs = ca_file
            self.client.register_plugin("xep_0199")
            self.client.register_plugin("xep_0045")
            self.client.add_event_handler("groupchat_message",
                                          lambda m: self.room_messages.put((m["mucnick"], m["body"])))
            self.client.add_event_handler("session_start", lambda _: (self.client.send_presence(),
                                                                      self.client.get_roster(), ready.set()))
            self.client.add_event_handler("message", lambda m: self.messages.put((str(m["from"].bare), m["body"])))
            self.client.add_event_handler("message_error", lambda m: self.errors.put(m["error"]["condition"]))
            self.client.add_event_handler("presence", lambda p: self.presences.put((str(p["from"].bare), p["type"])))
            self.client.connect(("127.0.0.1", port))
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise AssertionError("slixmpp did not log in")

    def send(self, to: str, text: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.client.send_message(mto=to, mbody=text, mtype="chat"))

    def join(self, room: str, nick: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.client.plugin["xep_0045"].join_muc(room, nick))

    def join_and_wait(self, room: str, nick: str, timeout: float = 10) -> None:
        """Join, and return once the room has sent back bob's own presence."""
        plugin = self.client.plugin["xep_0045"]
        asyncio.run_coroutine_threadsafe(plugin.join_muc_wait(room, nick, maxchars=0, timeout=timeout),
                                         self.loop).result(timeout + 1)

    def leave(self, room: str, nick: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.client.plugin["xep_0045"].leave_muc(room, nick))

    def say_in(self, room: str, text: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.client.send_message(mto=room, mbody=text, mtype="groupchat"))

    def close(self) -> None:
        self.client.add_event_handler("disconnected", lambda _: self.loop.call_later(0.05, self.loop.stop))
        self.loop.call_soon_threadsafe(lambda: self.client.disconnect(wait=0))
        self.thread.join(5)


class XmppInterworking(Workspace):
    def setUp(self) -> None:
        require("prosody", "prosodyctl", "setpriv")
        try:
            import slixmpp  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-slixmpp is not installed")
        super().setUp()
        self.port = free_port()
        self.data = self.path("prosody")
        os.mkdir(self.data)
        self.cert, _ = self.certificate(HOST, self.data)
        self.write_config(tls=True)
        if ROOT:
            user = pwd.getpwnam(USER)
            for root, dirs, files in os.walk(self.dir):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        for name, password in (("alice", "alice-secret"), ("bob", "bob-secret")):
            subprocess.run(self.as_user("prosodyctl", "--config", self.path("prosody.cfg.lua"), "register", name,
                                        HOST, password), check=True, capture_output=True, timeout=20)

    def write_config(self, tls: bool) -> None:
        """prosody requiring STARTTLS, or (tls False) a server offering none and taking PLAIN in clear."""
        security = (f'ssl = {{ certificate = "{self.cert}", key = "{self.cert[:-4]}.key" }}\n'
                    'c2s_require_encryption = true\n' if tls else
                    'c2s_require_encryption = false\nallow_unencrypted_plain_auth = true\n')
        with open(self.path("prosody.cfg.lua"), "w") as f:
            f.write(f"""
pidfile = "{self.data}/prosody.pid"
data_path = "{self.data}"
certificates = "{self.data}"
log = {{ info = "*console" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
{security}authentication = "internal_plain"
modules_enabled = {{ "roster", "saslauth", {'"tls", ' if tls else ''}"disco", "ping", "presence", "posix" }}
modules_disabled = {{ "s2s", "offline" }}
VirtualHost "{HOST}"
Component "{ROOMS}" "muc"
    muc_room_locking = false
""")

    def as_user(self, *argv: str) -> list[str]:
        if not ROOT:
            return list(argv)
        return ["setpriv", f"--reuid={USER}", f"--regid={pwd.getpwnam(USER).pw_gid}", "--clear-groups", *argv]

    def server(self, name: str = "prosody"):
        child = self.start(self.as_user("prosody", "-F", "--config", self.path("prosody.cfg.lua")), name)
        wait_for(lambda: port_open(self.port), 10, "prosody")
        return child

    def runtime(self, password: str = "alice-secret", tls: object = None):
        return self.iw_runtime("xmpp", KEY, self.port, {"jid": f"alice@{HOST}", "password": password},
                               tls={"caFile": self.cert} if tls is None else tls)

    def bob(self) -> NativeXmpp:
        bob = NativeXmpp(self.port, f"bob@{HOST}", "bob-secret", self.cert)
        self.addCleanup(bob.close)
        return bob

    def test_chat_messages_flow_both_ways_with_a_native_client(self) -> None:
        self.server()
        bob = self.bob()
        client = self.runtime()
        client.listen(ALICE)
        client.status(KEY, "live")
        response = client.send(client.url, BOB, "hello bob")
        self.assertEqual(response["body"]["code"], 200, response)
        self.assertEqual(bob.messages.get(timeout=5), (f"alice@{HOST}", "hello bob"))
        bob.send(f"alice@{HOST}", "hello alice")
        inbound = client.next(lambda m: m.get("to") == ALICE and m.get("type") == "create")
        self.assertEqual(inbound["from"], BOB)
        self.assertEqual(inbound["body"]["value"], "hello alice")

    def test_the_stub_starts_and_logs_in_without_a_sandbox_refusal(self) -> None:
        self.server()
        client = self.runtime()
        self.assertEqual(client.send(client.url, BOB, "are you there?")["body"]["code"], 404)  # deploys, logs in
        self.assertNotIn("sandbox refused", self.runtime_daemon.child.output())

    def test_a_room_post_reaches_the_room_and_each_local_listener_once_and_the_room_reaches_them(self) -> None:
        self.server()
        bob = self.bob()
        bob.join(f"lobby@{ROOMS}", "bob")
        listener = self.runtime()
        listener.listen(ROOM)
        self.room_joined(listener)
        poster = self.runtime_daemon.client()
        responses = []

        def posted():
            response = poster.send(poster.url, ROOM, "hello lobby")
            responses.append(response["body"])
            try:
                while True:
                    nick, text = bob.room_messages.get(timeout=1)
                    if text == "hello lobby":
                        return response
            except queue.Empty:
                # a join sent while bob's session was still settling can be lost on a loaded host: joining
                # again is harmless (the room has him once)
                bob.join(f"lobby@{ROOMS}", "bob")
                return None
        # bob is in the room once his join went through (the stub is: it said so above)
        try:
            response = wait_for(posted, 15, "the post to reach the room")
        except AssertionError as error:
            raise AssertionError(f"{error}; the posts were answered {responses}") from None
        self.assertEqual(response["body"]["code"], 200, response)
        got = listener.next(lambda m: m.get("to") == ROOM and m["body"].get("value") == "hello lobby", 5)
        self.assertEqual(got["body"]["nick"], "alice", "the room's reflection of alice's post")
        bob.say_in(f"lobby@{ROOMS}", "hi from bob")
        heard = listener.next(lambda m: m.get("to") == ROOM and m["body"].get("value") == "hi from bob", 5)
        self.assertEqual(heard["body"]["nick"], "bob")
        # the room keeps bob's order: once his next line is in, a second copy of the first would be too
        bob.say_in(f"lobby@{ROOMS}", "bob again")
        listener.next(lambda m: m.get("to") == ROOM and m["body"].get("value") == "bob again", 5)
        self.assertEqual([m for m in listener.inbox if m.get("body", {}).get("value") == "hi from bob"], [],
                         "once each")

    def room_joined(self, client, timeout: float = 10) -> dict:
        """The stub's next status saying that it joined the lobby."""
        return client.next(lambda m: m.get("to") == f"{client.runtime_url}/status"
                           and m["body"].get("domain") == KEY and m["body"].get("value") == "live"
                           and f"lobby@{ROOMS} (joined)" in (m["body"].get("desc") or ""), timeout)["body"]

    def test_a_room_that_refuses_the_join_is_joined_again_once_it_can(self) -> None:
        self.server()
        bob = self.bob()
        bob.join_and_wait(f"lobby@{ROOMS}", "alice")  # the stub's nick: its join is refused (conflict)
        listener = self.runtime()
        listener.listen(ROOM)
        wait_for(lambda: f"the room lobby@{ROOMS} refused to let alice join (conflict)"
                 in self.runtime_daemon.child.output(), 10, "the room to refuse the stub's join")
        self.assertEqual(listener.stub(KEY)["status"], "live")
        bob.leave(f"lobby@{ROOMS}", "alice")
        self.room_joined(listener)
        self.assertIn(f"joined the room lobby@{ROOMS} as alice", self.runtime_daemon.child.output())

    def test_a_message_claiming_another_legacy_identity_is_refused(self) -> None:
        self.server()
        client = self.runtime()
        self.bob()
        own = client.send(client.url, BOB, "as alice", identity={"jid": f"alice@{HOST}"})
        self.assertEqual(own["body"]["code"], 200, own)
        other = client.send(client.url, BOB, "as bob", identity={"jid": f"bob@{HOST}", "password": "bob-secret"})
        self.assertEqual(other["body"]["code"], 403, other)
        self.assertIn(f"xmpp.{HOST}.json", other["body"]["desc"])

    def test_a_message_nobody_listens_for_bounces_to_its_sender(self) -> None:
        self.server()
        client = self.runtime()
        client.listen(f"xmpp://{HOST}/someone-else@{HOST}")  # deploys the stub, but nobody listens on alice
        client.status(KEY, "live")
        bob = self.bob()
        bob.send(f"alice@{HOST}", "anyone?")
        self.assertEqual(bob.errors.get(timeout=5), "service-unavailable")

    def test_message_to_a_user_who_is_not_online_is_answered_404(self) -> None:
        self.server()
        client = self.runtime()
        response = client.send(client.url, BOB, "are you there?")
        self.assertEqual(response["body"]["code"], 404, response)
        self.assertIn("service-unavailable", response["body"]["desc"])

    def test_presence_subscription_and_updates(self) -> None:
        self.server()
        bob = self.bob()
        client = self.runtime()
        client.listen(ALICE)
        client.status(KEY, "live")
        # slixmpp authorises subscription requests by default and subscribes back
        self.assertEqual(client.send(client.url, BOB, {"presence": "subscribe"}, kind="update")["body"]["code"], 200)
        got = client.next(lambda m: m.get("from") == BOB and m.get("type") == "update"
                          and m["body"]["value"].get("presence") == "available", 10)
        self.assertEqual(got["to"], ALICE)
        # bob subscribes back; alice authorises it, so bob sees alice's presence
        client.next(lambda m: m.get("from") == BOB and m["body"]["value"].get("presence") == "subscribe", 10)
        self.assertEqual(client.send(client.url, BOB, {"presence": "subscribed"}, kind="update")["body"]["code"], 200)
        self.assertEqual(client.send(client.url, ALICE, {"show": "away", "status": "at lunch"},
                                     kind="update")["body"]["code"], 200)
        wait_for(lambda: self.drain_until(bob.presences, (f"alice@{HOST}", "away")), 10, "bob to see alice away")

    @staticmethod
    def drain_until(q: queue.Queue, wanted) -> bool:
        try:
            while True:
                if q.get(timeout=0.1) == wanted:
                    return True
        except queue.Empty:
            return False

    def test_server_restart_goes_disconnected_then_live_with_every_request_answered(self) -> None:
        server = self.server()
        client = self.runtime()
        client.listen(ALICE)
        client.status(KEY, "live")
        self.assert_outage_answered(client, KEY, server, lambda: self.server("prosody-again"),
                                    lambda: client.send(client.url, BOB, "lost"))
        bob = self.bob()
        # until the server has bob's initial presence it answers service-unavailable: retry until delivered
        wait_for(lambda: client.send(client.url, BOB, "back")["body"]["code"] == 200, 5, "a message to bob")
        self.assertEqual(bob.messages.get(timeout=5), (f"alice@{HOST}", "back"))

    def test_a_server_without_starttls_gets_no_password_in_clear(self) -> None:
        self.write_config(tls=False)
        self.server()
        client = self.runtime()
        self.assert_stub_failed(client, KEY, client.send(client.url, BOB, "hi"), "offers no STARTTLS")

    def test_tls_false_logs_in_without_encryption_where_the_operator_allows_it(self) -> None:
        self.write_config(tls=False)
        self.server()
        client = self.runtime(tls=False)
        client.listen(ALICE)
        client.status(KEY, "live")

    def test_wrong_password_fails_with_an_actionable_reason(self) -> None:
        self.server()
        client = self.runtime(password="wrong")
        self.assert_stub_failed(client, KEY, client.send(client.url, BOB, "hi"), f"password for alice@{HOST}",
                                f"{KEY}.json")


if __name__ == "__main__":
    unittest.main()
