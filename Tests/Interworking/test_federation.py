"""Two domains, two runtimes, one conversation: the reTHINK flow end to end, on 127.0.0.1.

acme.example and beta.example each publish their own message-node stub (the NATS stub, packed and signed
with ``rethinkctl stub``) under ``/.well-known/protocolstub/`` on a real nginx over HTTPS, and each runs its
own nats-server. Runtime A serves acme (its stub in A's catalogue) and knows nothing of beta; runtime B the
other way round. alice listens on A, bob on B. alice's message to bob makes A fetch beta's stub from beta's
web site, verify its signature, run it, and hand the message to beta's NATS, where B's beta stub delivers
it to bob; bob's answer comes back the same way. Then bob writes to alice, and B fetches acme's stub.
(The same flow between network namespaces is issue 11's remaining work; see docs/STUBS.md.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import unittest
from pathlib import Path

from harness import DAEMON_BIN, REPO, Workspace, free_port, port_open, require, wait_for

ALICE = "hyperty://acme.example/alice"
BOB = "hyperty://beta.example/bob"
RETHINKCTL = os.path.join(os.path.dirname(DAEMON_BIN), "rethinkctl")
KIT = REPO / "stubkit"


class Federation(Workspace):
    def setUp(self) -> None:
        require("nats-server", "nginx", "openssl")
        super().setUp()
        self.www = self.path("www")
        self.cert, key = self.certificate("acme.example")
        # one certificate for both host names (and 127.0.0.1): the test's own CA file for both daemons
        self.cert, key = self._two_host_certificate()
        self.https = self._nginx(self.cert, key)
        subprocess.run([RETHINKCTL, "stub", "keygen", self.path("publisher")], check=True, capture_output=True)
        self.public_key = Path(self.path("publisher.pub")).read_text().strip()
        self.nats_ports = {"acme.example": free_port(), "beta.example": free_port()}
        for domain, port in self.nats_ports.items():
            self.start(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-n", domain], f"nats-{domain}")
            wait_for(lambda: port_open(port), 5, f"{domain}'s NATS on port {port}")
        for domain in self.nats_ports:
            self._publish(domain)

    def _two_host_certificate(self) -> tuple[str, str]:
        cert, key = self.path("web.crt"), self.path("web.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=federation test",
                        "-addext", "subjectAltName=DNS:acme.example,DNS:beta.example,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=20)
        os.chmod(key, 0o644)
        return cert, key

    def _nginx(self, cert: str, key: str) -> int:
        """nginx serving ``www/<host>`` over HTTPS for both hosts; returns its port."""
        port = free_port()
        for sub in ("tmp", "www/acme.example", "www/beta.example"):
            os.makedirs(self.path(sub), exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""
        Path(self.path("nginx.conf")).write_text(f"""
daemon off; worker_processes 1; {user}
pid {self.path('nginx.pid')}; error_log {self.path('nginx-error.log')} warn;
events {{ worker_connections 64; }}
http {{
    access_log off; default_type application/octet-stream;
    client_body_temp_path {self.path('tmp')}; proxy_temp_path {self.path('tmp')};
    fastcgi_temp_path {self.path('tmp')}; uwsgi_temp_path {self.path('tmp')}; scgi_temp_path {self.path('tmp')};
    server {{
        listen 127.0.0.1:{port} ssl; server_name _;
        ssl_certificate {cert}; ssl_certificate_key {key};
        root {self.www}/$host;
    }}
}}
""")
        self.start(["nginx", "-p", self.dir, "-c", self.path("nginx.conf")], "nginx")
        wait_for(lambda: port_open(port), 10, f"nginx on port {port}")
        return port

    def _publish(self, domain: str) -> None:
        """``domain``'s NATS stub (the stub and the kit it imports, as one archive), signed, on its web site."""
        package = self.path(f"{domain}-package")
        os.mkdir(package)
        shutil.copy(KIT / "stubs" / "nats_stub.py", os.path.join(package, "main.py"))
        for module in ("rethink_network.py", "rethink_stub.py"):
            shutil.copy(KIT / module, os.path.join(package, module))
        port = self.nats_ports[domain]
        configuration = {"servers": [f"nats://127.0.0.1:{port}"], "reconnect": {"initialSeconds": 0.05,
                                                                              "maxSeconds": 0.5}}
        subprocess.run([RETHINKCTL, "stub", "pack", package, "--out", os.path.join(self.www, domain),
                        "--object-name", f"{domain} message node", "--version", "1", "--language", "python",
                        "--key", self.path("publisher.key"), "--configuration", json.dumps(configuration),
                        "--constraints", json.dumps({"connect": [f"127.0.0.1:{port}"]})],
                       check=True, capture_output=True)

    def runtime(self, name: str, home: str, other: str):
        """A daemon whose catalogue has only ``home``'s stub (the descriptor its own web site publishes) and
        that finds ``other``'s on the network, trusting the publisher's key; a client watching statuses."""
        descriptor = json.loads(Path(self.www, home, ".well-known", "protocolstub", "default").read_text())
        descriptor["sourcePackageURL"] = f"https://{home}/.well-known/protocolstub/" + descriptor[
            "sourcePackageURL"].split("/.well-known/protocolstub/", 1)[-1]
        settings = {"discovery": {"resolve": {other: f"127.0.0.1:{self.https}", home: f"127.0.0.1:{self.https}"},
                                  "caBundle": self.cert, "trustedKeys": [self.public_key]},
                    "pythonPath": [str(KIT)]}
        client = self.daemon(name, f"{name}.test", self.catalogue({}), settings=settings).client()
        client.watch_status()
        return client

    def test_alice_and_bob_talk_through_each_others_own_stubs_fetched_on_the_fly(self) -> None:
        a = self.runtime("runtime-a", "acme.example", "beta.example")
        b = self.runtime("runtime-b", "beta.example", "acme.example")
        a.listen(ALICE)
        b.listen(BOB)
        a.status("acme.example", "live", timeout=20)
        b.status("beta.example", "live", timeout=20)

        # alice -> bob: A deploys beta's stub from beta's web site; B's beta stub delivers to bob
        answer = self.converse(a, b, ALICE, BOB, "hello bob")
        self.assertEqual(answer["body"]["code"], 200, answer)
        self.assertEqual(answer["body"]["value"], {"reply": "re: hello bob"})
        beta_on_a = a.stub("beta.example")
        self.assertIsNotNone(beta_on_a, "A runs beta's stub")
        self.assertEqual(beta_on_a["status"], "live")

        # bob -> alice: B deploys acme's stub the same way
        answer = self.converse(b, a, BOB, ALICE, "hello alice")
        self.assertEqual(answer["body"]["code"], 200, answer)
        self.assertEqual(answer["body"]["value"], {"reply": "re: hello alice"})
        self.assertIsNotNone(b.stub("acme.example"), "B runs acme's stub")

        # a run of requests each way, each answered exactly once with its own body
        for sender, receiver, frm, to in ((a, b, ALICE, BOB), (b, a, BOB, ALICE)):
            for index in range(50):
                answer = self.converse(sender, receiver, frm, to, f"#{index}")
                self.assertEqual(answer["body"]["value"], {"reply": f"re: #{index}"})
            time.sleep(0.3)
            self.assertFalse([m for m in sender.inbox if m.get("type") == "response"], "no second answer")

    def converse(self, sender, receiver, frm: str, to: str, text: str, timeout: float = 30) -> dict:
        """``sender``'s client sends from ``frm`` to ``to`` (retrying while the route through NATS is not
        there yet: the far stub's subscription follows its ``live``); ``receiver``'s client answers."""
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
                self.assertEqual(got["body"]["value"], {"text": text})
                receiver.answer(got, 200, {"reply": f"re: {text}"})
                return sender.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 15)
            early = sender.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 15)
            if time.monotonic() > deadline:
                raise AssertionError(f"{to} never heard from {frm}; last answer {early}")


if __name__ == "__main__":
    unittest.main()
