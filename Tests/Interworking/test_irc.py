"""The IRC IWStub against a real ngircd: a reTHINK client and a raw-socket IRC client in both directions."""

from __future__ import annotations

import socket
import time
import unittest

from harness import Workspace, free_port, port_open, require, wait_for

HOST = "irc.test"
KEY = f"irc.{HOST}"
ROOM = f"irc://{HOST}/#room"


class NativeIrc:
    """A plain IRC client on a socket."""

    def __init__(self, port: int, nick: str, password: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        if password:
            self.write(f"PASS {password}")
        self.write(f"NICK {nick}", f"USER {nick} 0 * :native")
        self.expect(lambda line: " 001 " in line)

    def write(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def expect(self, predicate, timeout: float = 5) -> str:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode(errors="replace").rstrip("\r")
                if text.startswith("PING"):
                    self.write("PONG" + text[4:])
                elif predicate(text):
                    return text
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                data = None
            if not data or time.monotonic() > deadline:
                raise AssertionError("no matching IRC line")
            self.buffer += data

    def close(self) -> None:
        self.sock.close()


class IrcInterworking(Workspace):
    def setUp(self) -> None:
        require("ngircd")
        super().setUp()
        self.port = free_port()

    def server(self, name: str = "ngircd", password: str | None = None, tls: bool = False):
        ssl = ""
        if tls:
            cert, key = self.certificate(HOST)
            ssl = f"[SSL]\nCertFile = {cert}\nKeyFile = {key}\nPorts = {self.port}\n"
        with open(self.path(f"{name}.conf"), "w") as f:
            f.write(f"[Global]\nName = {HOST}\nInfo = test\nListen = 127.0.0.1\n"
                    f"Ports = {free_port() if tls else self.port}\nMotdFile = /dev/null\n" +
                    (f"Password = {password}\n" if password else "") +
                    "[Options]\nPAM = no\nIdent = no\nDNS = no\n" + ssl)
        child = self.start(["ngircd", "-n", "-f", self.path(f"{name}.conf")], name)
        wait_for(lambda: port_open(self.port), 5, "ngircd")
        return child

    def runtime(self, identity: dict | None, **configuration):
        return self.iw_runtime("irc", KEY, self.port, identity, **configuration)

    def native(self, nick: str = "bob", password: str | None = None) -> NativeIrc:
        native = NativeIrc(self.port, nick, password)
        self.addCleanup(native.close)
        return native

    def both_in_the_room(self):
        """ngircd, bob (native) in #room, and a runtime whose client listens on #room as alice, joined."""
        self.server()
        bob = self.native()
        bob.write("JOIN #room")
        bob.expect(lambda line: "JOIN" in line)
        client = self.runtime({"nick": "alice"})
        client.listen(ROOM)
        client.status(KEY, "live")
        bob.expect(lambda line: line.startswith(":alice") and "JOIN" in line)
        return bob, client

    def test_channel_messages_flow_both_ways_with_a_native_client(self) -> None:
        bob, client = self.both_in_the_room()
        bob.write("PRIVMSG #room :hello alice")
        inbound = client.next(lambda m: m.get("to") == ROOM and m.get("type") == "create")
        self.assertEqual(inbound["from"], f"irc://{HOST}/bob")
        self.assertEqual(inbound["body"]["value"], "hello alice")

        response = client.send(client.url, ROOM, "hello bob")
        self.assertEqual(response["body"]["code"], 200, response)
        bob.expect(lambda line: line.startswith(":alice") and "PRIVMSG #room :hello bob" in line)

        private = client.send(client.url, f"irc://{HOST}/bob", {"text": "psst"})
        self.assertEqual(private["body"]["code"], 200, private)
        bob.expect(lambda line: "PRIVMSG bob :psst" in line)

        client.listen(f"irc://{HOST}/alice")
        bob.write("PRIVMSG alice :private hello")
        got = client.next(lambda m: m.get("to") == f"irc://{HOST}/alice")
        self.assertEqual(got["body"]["value"], "private hello")

    def test_a_local_post_to_a_channel_reaches_irc_and_every_local_listener(self) -> None:
        bob, listener = self.both_in_the_room()
        poster = self.runtime_daemon.client()
        response = poster.send(poster.url, ROOM, "hello room")
        self.assertEqual(response["body"]["code"], 200, response)  # the network's answer: delivered to IRC
        bob.expect(lambda line: line.startswith(":alice") and "PRIVMSG #room :hello room" in line)
        copy = listener.next(lambda m: m.get("to") == ROOM and m.get("type") == "create", 5)
        self.assertEqual(copy["from"], poster.url)
        self.assertEqual(copy["body"]["value"], "hello room")
        listener.answer(copy, 200)  # a listener's answer to its copy is dropped: the poster has its one answer
        listener.barrier()  # the daemon has dealt with that answer: had it passed it on, the poster has it
        poster.take_available()
        self.assertFalse([m for m in poster.inbox if m.get("type") == "response"], "exactly one answer")

    def test_message_to_an_unknown_nick_is_answered_404(self) -> None:
        self.server()
        client = self.runtime({"nick": "alice"})
        response = client.send(client.url, f"irc://{HOST}/nobody", "hello?")
        self.assertEqual(response["body"]["code"], 404, response)

    def test_server_restart_goes_disconnected_then_live_with_every_request_answered(self) -> None:
        server = self.server()
        client = self.runtime({"nick": "alice"})
        client.listen(ROOM)
        client.status(KEY, "live")
        self.assert_outage_answered(client, KEY, server, lambda: self.server("ngircd-again"),
                                    lambda: client.send(client.url, ROOM, "lost"))
        bob = self.native()
        bob.write("JOIN #room")
        bob.expect(lambda line: "JOIN" in line)
        self.assertEqual(client.send(client.url, ROOM, "back")["body"]["code"], 200)
        bob.expect(lambda line: "PRIVMSG #room :back" in line)

    def test_tls_to_the_server_with_a_private_ca(self) -> None:
        self.server(tls=True)
        client = self.runtime({"nick": "alice"}, tls={"caFile": self.path(f"{HOST}.crt")})
        client.listen(ROOM)
        client.status(KEY, "live")

    def test_without_an_identity_the_deployment_fails_saying_where_to_put_it(self) -> None:
        client = self.runtime(None)
        response = client.send(client.url, ROOM, "hi")
        self.assertEqual(response["body"]["code"], 502, response)
        self.assertIn(f"{KEY}.json", response["body"]["desc"])
        self.assertIn("credentialsDirectories", response["body"]["desc"])
        client.status(KEY, "deployment-failed")

    def test_wrong_server_password_fails_with_an_actionable_reason(self) -> None:
        self.server(password="sesame")
        client = self.runtime({"nick": "alice", "password": "wrong"})
        self.assert_stub_failed(client, KEY, client.send(client.url, ROOM, "hi"), "password", f"{KEY}.json")


if __name__ == "__main__":
    unittest.main()
