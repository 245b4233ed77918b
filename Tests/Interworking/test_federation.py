"""Two domains, two hosts, one conversation: the reTHINK flow end to end.

Host A serves acme.example, host B beta.example; each is a network namespace of its own (a veth pair
between them), or, without root, both are 127.0.0.1 (the test says which). Each host runs a real nginx
publishing its domain's NATS stub (packed and signed with ``rethinkctl stub``) under
``/.well-known/protocolstub/`` over HTTPS, its domain's NATS (beta's a 3-node cluster) and a daemon whose
catalogue holds only its own domain. alice listens on A, bob on B. alice's message to bob makes A fetch
beta's stub from host B, verify its signature, run it, and hand the message to beta's NATS, where B's beta
stub delivers it to bob; bob's answer comes back the same way; bob's message to alice makes B fetch acme's.

``make demo-federation`` runs this with RETHINK_DEMO=1, which prints each step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import unittest
from pathlib import Path

from harness import DAEMON_BIN, REPO, Workspace, free_port, require, wait_for
from hosts import Hosts

ALICE = "hyperty://acme.example/alice"
BOB = "hyperty://beta.example/bob"
RETHINKCTL = os.path.join(os.path.dirname(DAEMON_BIN), "rethinkctl")
KIT = REPO / "stubkit"
DEMO = bool(os.environ.get("RETHINK_DEMO"))
HOME = {"a": "acme.example", "b": "beta.example"}


def say(text: str) -> None:
    if DEMO:
        print(text, flush=True)


class Federation(Workspace):
    def setUp(self) -> None:
        require("nats-server", "nginx", "openssl", "ip", "ss")
        self.hosts = Hosts(f"{os.getpid() % 100000}")
        self.addCleanup(self.hosts.down)  # after the children are stopped (cleanups run last-registered first)
        super().setUp()
        say(self.hosts.describe())
        self.cert, key = self._certificate()
        keys = subprocess.run([RETHINKCTL, "stub", "keygen", self.path("publisher"), "--json"], check=True,
                              capture_output=True, text=True)
        self.public_key = json.loads(keys.stdout)["publicKey"]
        self.assertEqual(self.public_key, Path(self.path("publisher.pub")).read_text().strip())
        self.https = {host: self._nginx(host, key) for host in ("a", "b")}
        self.nats = {"a": [self._nats("a", "acme-0")]}
        cluster = [free_port() for _ in range(3)]
        self.nats["b"] = [self._nats("b", f"beta-{i}", cluster[i], [c for c in cluster if c != cluster[i]])
                          for i in range(3)]
        for host in ("a", "b"):
            self._publish(host)

    # MARK: the hosts' servers

    def run_on(self, host: str, argv: list[str], name: str):
        return self.start(self.hosts.prefix(host) + argv, name)

    def _certificate(self) -> tuple[str, str]:
        """One certificate for both sites (names and addresses): its own CA file, which both daemons trust."""
        cert, key = self.path("web.crt"), self.path("web.key")
        names = ",".join(["DNS:acme.example", "DNS:beta.example"] +
                         sorted({f"IP:{address}" for address in self.hosts.addresses.values()}))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=federation test",
                        "-addext", f"subjectAltName={names}"], check=True, capture_output=True, timeout=20)
        os.chmod(key, 0o644)
        return cert, key

    def _nginx(self, host: str, key: str) -> int:
        """nginx on ``host`` serving ``www-<host>/<site>`` over HTTPS; returns its port."""
        port, prefix = free_port(), self.path(f"nginx-{host}")
        for sub in ("tmp", f"www/{HOME[host]}"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""
        Path(prefix, "nginx.conf").write_text(f"""
daemon off; worker_processes 1; {user}
pid {prefix}/nginx.pid; error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off; default_type application/octet-stream;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp; fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    server {{
        listen {self.hosts.addresses[host]}:{port} ssl; server_name _;
        ssl_certificate {self.cert}; ssl_certificate_key {key};
        root {prefix}/www/$host;
    }}
}}
""")
        self.run_on(host, ["nginx", "-p", prefix, "-c", f"{prefix}/nginx.conf"], f"nginx-{host}")
        wait_for(lambda: self.hosts.listening(host, port), 10, f"nginx on host {host}")
        return port

    def _nats(self, host: str, name: str, cluster: int | None = None, routes: list[int] = ()):
        port, address = free_port(), self.hosts.addresses[host]
        argv = ["nats-server", "-a", address, "-p", str(port), "-n", name]
        if cluster:
            argv += ["--cluster_name", "beta", "--cluster", f"nats://{address}:{cluster}",
                     "--routes", ",".join(f"nats://{address}:{r}" for r in routes)]
        child = self.run_on(host, argv, name)
        wait_for(lambda: self.hosts.listening(host, port), 10, f"NATS {name}")
        child.port = port
        return child

    def _publish(self, host: str) -> None:
        """The site's NATS stub (the stub and the kit modules it imports, as one archive), signed."""
        domain, package = HOME[host], self.path(f"{host}-package")
        os.mkdir(package)
        shutil.copy(KIT / "stubs" / "nats_stub.py", os.path.join(package, "main.py"))
        for module in ("rethink_network.py", "rethink_stub.py"):
            shutil.copy(KIT / module, os.path.join(package, module))
        servers = [f"{self.hosts.addresses[host]}:{node.port}" for node in self.nats[host]]
        configuration = {"servers": [f"nats://{s}" for s in servers],
                         "reconnect": {"initialSeconds": 0.05, "maxSeconds": 0.5}}
        out = subprocess.run(
            [RETHINKCTL, "stub", "pack", package, "--out", self.path(f"nginx-{host}", "www", domain),
             "--object-name", f"{domain} message node", "--version", "1", "--language", "python",
             "--key", self.path("publisher.key"), "--configuration", json.dumps(configuration),
             "--constraints", json.dumps({"connect": servers}), "--json"], check=True, capture_output=True, text=True)
        packed = json.loads(out.stdout)
        self.assertTrue(packed["signed"])
        # checked the way a runtime will, before it is served
        checked = json.loads(subprocess.run(
            [RETHINKCTL, "stub", "verify", packed["descriptor"], "--trusted-key", self.path("publisher.pub"), "--json"],
            check=True, capture_output=True, text=True).stdout)
        self.assertEqual((checked["sha256"], checked["trustedKey"], checked["entryPoint"]),
                         (packed["sha256"], 1, "main.py"))
        say(f"{domain} publishes its NATS stub on host {host.upper()}: {packed['bytes']} bytes, sha256 "
            f"{packed['sha256'][:16]}..., signed and verified")

    def runtime(self, host: str, name: str | None = None):
        """Host ``host``'s daemon: its catalogue holds only its own domain's stub (the descriptor its site
        publishes); the other domain's it finds on the other host's site, trusting the publisher's key."""
        home, other = HOME[host], HOME["b" if host == "a" else "a"]
        # the operator ships the home stub as the site publishes it: descriptor and signed package
        www = self.path(f"nginx-{host}", "www", home, ".well-known", "protocolstub")
        name = name or f"runtime-{host}"
        catalogue = self.path(f"catalogue-{name}")
        shutil.copytree(os.path.join(www, "packages"), os.path.join(catalogue, "packages"))
        shutil.copy(os.path.join(www, "default"), os.path.join(catalogue, f"{home}.json"))
        # and a stub of a third domain that will try what a hostile stub would
        Path(catalogue, "evil.example.json").write_text(json.dumps({
            "objectName": "evil", "version": "1", "language": "python",
            "sourcePackageURL": str(REPO / "Tests" / "Fixtures" / "stubs" / "testing_stub.py")}))
        other_host = "b" if host == "a" else "a"
        resolve = {home: f"{self.hosts.addresses[host]}:{self.https[host]}",
                   other: f"{self.hosts.addresses[other_host]}:{self.https[other_host]}"}
        settings = {"discovery": {"resolve": resolve, "caBundle": self.cert, "trustedKeys": [self.public_key]},
                    "pythonPath": [str(KIT)]}
        daemon = self.daemon(name, f"host-{host}.test", catalogue, settings=settings, prefix=self.hosts.prefix(host))
        client = daemon.client()
        client.socket_path = daemon.socket_path
        client.watch_status()
        return client

    # MARK: the conversation

    def test_alice_and_bob_talk_across_hosts_through_each_others_own_stubs_fetched_on_the_fly(self) -> None:
        a, b = self.runtime("a"), self.runtime("b")
        a.listen(ALICE)
        b.listen(BOB)
        a.status("acme.example", "live", timeout=20)
        b.status("beta.example", "live", timeout=20)
        say("alice listens on host A (acme.example's stub live there), bob on host B (beta.example's)")

        first = time.monotonic()
        answer = self.converse(a, b, ALICE, BOB, "hello bob")
        self.assertEqual(answer["body"]["value"], {"reply": "re: hello bob"}, answer)
        say(f"alice -> bob: A fetched beta.example's stub from host B, checked its signature, ran it: "
            f"{a.stub('beta.example')['status']}; bob's answer came back in {time.monotonic() - first:.2f} s "
            f"(first contact included)")
        answer = self.converse(b, a, BOB, ALICE, "hello alice")
        self.assertEqual(answer["body"]["value"], {"reply": "re: hello alice"}, answer)
        say("bob -> alice: B fetched acme.example's stub from host A the same way; alice's answer came back")
        self.assertEqual(a.stub("beta.example")["status"], "live")
        self.assertEqual(b.stub("acme.example")["status"], "live")

        for sender, receiver, frm, to, name in ((a, b, ALICE, BOB, "alice->bob"), (b, a, BOB, ALICE, "bob->alice")):
            started = time.monotonic()
            answers = self.exchange(sender, receiver, frm, to, name, 1000)
            self.assertEqual(len(answers), 1000, f"{name}: {1000 - len(answers)} requests got no final answer")
            self.assertTrue(all(len(v) == 1 for v in answers.values()), f"{name}: exactly one final answer each")
            wrong = {k: v[0]["body"] for k, v in answers.items() if v[0]["body"].get("value") != {"reply": k}}
            self.assertEqual(wrong, {}, f"{name}: each its own answer")
            say(f"{name}: 1000 requests, each answered once with its own body, in {time.monotonic() - started:.2f} s")

        self.rethinkctl_holds_the_conversation(a, b)
        self.hostile_stub_stays_in_its_domain(a, b, ALICE, BOB, "A")
        self.hostile_stub_stays_in_its_domain(b, a, BOB, ALICE, "B")

        # beta's cluster node that both beta stubs are on dies in the middle of a stream of requests
        node = self.nats["b"][0]
        answers = self.exchange(a, b, ALICE, BOB, "failover", 300, at=(100, node.kill))
        self.assertEqual(len(answers), 300, f"failover: {300 - len(answers)} requests got no final answer")
        self.assertTrue(all(len(v) == 1 for v in answers.values()), "failover: exactly one final answer each")
        codes = [v[0]["body"]["code"] for v in answers.values()]
        # Only what was in flight when the node died (a window of 20, on either stub's connection) may fail: 503
        # when its stub saw the connection drop, 504 when the answer was lost in the failover; the rest waited.
        self.assertTrue(set(codes) <= {200, 503, 504}, f"failover: {sorted(set(codes))}")
        lost = len(codes) - codes.count(200)
        self.assertLessEqual(lost, 40, f"failover: {lost} not answered 200")
        say(f"failover: beta's NATS node {node.name} killed after 100 of 300 requests: every request answered "
            f"once ({codes.count(200)} x 200; {codes.count(503)} x 503 and {codes.count(504)} x 504, in flight "
            f"when the node died)")

    def rethinkctl_holds_the_conversation(self, a, b) -> None:
        """The same conversation with nothing but rethinkctl: carol listens on host B answering every request,
        and a one-shot `send --as` from alice on host A gets carol's answer."""
        carol = "hyperty://beta.example/carol"
        listener = subprocess.Popen([RETHINKCTL, "listen", "--socket", b.socket_path, "--count", "1", "--reply",
                                     '{"from": "carol"}', carol], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while True:
                sent = subprocess.run([RETHINKCTL, "send", "--socket", a.socket_path, "--json", "--as", ALICE, carol,
                                       '"hello carol"'], capture_output=True, text=True, timeout=40)
                answer = json.loads(sent.stdout.strip().splitlines()[-1])
                # carol's listening reaches beta's NATS a moment after rethinkctl says it listens
                if answer["body"]["code"] != 404 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual((sent.returncode, answer["body"]["code"], answer["body"].get("value")),
                             (0, 200, {"from": "carol"}), sent.stdout + sent.stderr)
            shown = listener.communicate(timeout=10)[0]
            self.assertIn(f"{ALICE} -> {carol} via hyperty-runtime://beta.example/protostub/", shown)
            say(f"rethinkctl: send --as alice on host A, listen --reply as carol on host B: {shown.strip()}")
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait()

    def hostile_stub_stays_in_its_domain(self, a, b, alice: str, bob: str, host: str) -> None:
        """evil.example's stub on ``a``'s host writes, as its own, a message from ``alice`` to ``bob`` (a
        foreign `from` to an address outside its domain) and an answer to a request of ``alice``'s it was never
        part of: the runtime drops both, ``bob`` hears nothing, and ``alice`` gets the real answer, once."""
        def evil(message: dict) -> dict:
            return a.request({"type": "execute", "from": a.url, "to": "hyperty://evil.example/x",
                              "body": {"value": {"action": "emit", "message": message}}})
        forged = evil({"type": "create", "from": alice, "to": bob, "body": {"value": "forged"}})
        self.assertEqual(forged["body"]["code"], 200, forged)
        request_id = f"real-{host}"
        a.write({"id": request_id, "type": "create", "from": alice, "to": bob, "body": {"value": {"text": "real"}}})
        got = b.next(lambda m: m.get("id") == request_id and m.get("to") == bob, 10)
        answer = evil({"id": request_id, "type": "response", "from": bob, "to": alice,
                       "body": {"code": 200, "value": "forged answer"}})
        self.assertEqual(answer["body"]["code"], 200, answer)
        b.answer(got, 200, {"reply": "real answer"})
        answers: dict[str, list[dict]] = {}
        deadline = time.monotonic() + 5
        while request_id not in answers and time.monotonic() < deadline:
            a.take_final_responses({request_id}, answers, 0.05)
        # one more conversation the same way: a second answer would have come back before its own; the
        # forged message, dropped before its execute was answered, would have reached bob before the real one
        self.converse(a, b, alice, bob, f"after-{host}")
        a.take_final_responses({request_id}, answers)
        self.assertEqual([m["body"].get("value") for m in answers.get(request_id, [])], [{"reply": "real answer"}])
        self.assertFalse([m for m in b.inbox if m.get("body", {}).get("value") == "forged"], "the forgery was heard")
        say(f"a hostile stub on host {host} could neither speak for {alice} to {bob} nor answer for {bob}")

    def converse(self, sender, receiver, frm: str, to: str, text: str, timeout: float = 40) -> dict:
        """``sender``'s client sends from ``frm`` to ``to`` until it reaches ``receiver``'s client (the far
        stub's subscription follows its ``live``), which answers; returns the answer that came back."""
        deadline = time.monotonic() + timeout
        while True:
            sender.ids += 1
            request = {"id": f"{text}-{sender.ids}", "type": "create", "from": frm, "to": to,
                       "body": {"value": {"text": text}}}
            sender.write(request)
            try:
                got = receiver.next(lambda m: m.get("id") == request["id"] and m.get("to") == to, 10)
            except AssertionError:
                got = None
            if got is not None:
                self.assertEqual(got["from"], frm)
                say(f"  {to} got {json.dumps(got['body'].get('value'))} from {frm} via {got['body'].get('via')}")
                receiver.answer(got, 200, {"reply": f"re: {text}"})
                return sender.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 15)
            early = sender.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 20)
            if time.monotonic() > deadline:
                raise AssertionError(f"{to} never heard from {frm}; last answer {early}")

    def exchange(self, sender, receiver, frm: str, to: str, name: str, count: int, window: int = 20,
                 at: tuple[int, object] | None = None, timeout: float = 120) -> dict[str, list[dict]]:
        """``count`` requests from ``frm`` to ``to``, ``window`` at a time; the receiver answers each with
        ``{"reply": <id>}``; ``at`` = (n, f): f() once n are sent. Returns every final answer, by id."""
        answers: dict[str, list[dict]] = {}
        ids = [f"{name}-{i}" for i in range(count)]
        wanted = set(ids)
        sent, deadline = 0, time.monotonic() + timeout
        while len(answers) < count and time.monotonic() < deadline:
            while sent < count and sent - len(answers) < window:
                sender.write({"id": ids[sent], "type": "create", "from": frm, "to": to, "body": {"value": sent}})
                sent += 1
                if at and sent == at[0]:
                    at[1]()
            receiver._read(0.002)
            for message in [m for m in receiver.inbox if m.get("to") == to and m.get("id") in wanted]:
                receiver.inbox.remove(message)
                receiver.answer(message, 200, {"reply": message["id"]})
            sender.take_final_responses(wanted, answers, 0.002)
        # one more conversation the same way: a second answer to any of them would have come before its own
        self.converse(sender, receiver, frm, to, f"{name}-barrier")
        sender.take_final_responses(wanted, answers)
        return answers


if __name__ == "__main__":
    unittest.main()
