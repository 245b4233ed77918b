"""The NATS message-node stub between two runtimes, through a real nats-server and a real 3-node cluster.

Runtime A's client listens on ``hyperty://acme.example/alice``; runtime B's client listens on
``hyperty://acme.example/bob`` and sends from bob to alice; alice answers; both runtimes deploy the
acme.example stub from a catalogue that points at the servers.
"""

from __future__ import annotations

import time
import unittest

from harness import Workspace, free_port, port_open, require, wait_for

ALICE = "hyperty://acme.example/alice"
BOB = "hyperty://acme.example/bob"


class NatsMessageNode(Workspace):
    def setUp(self) -> None:
        require("nats-server")
        super().setUp()

    def nats(self, name: str, port: int, cluster: int | None = None, routes: list[int] = (),
             tls: tuple[str, str] | None = None, user: tuple[str, str] | None = None):
        argv = ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-n", name]
        if user:
            argv += ["--user", user[0], "--pass", user[1]]
        if tls:
            argv += ["--tls", "--tlscert", tls[0], "--tlskey", tls[1]]
        if cluster:
            argv += ["--cluster_name", "rethink", "--cluster", f"nats://127.0.0.1:{cluster}",
                     "--routes", ",".join(f"nats://127.0.0.1:{r}" for r in routes)]
        child = self.start(argv, name)
        wait_for(lambda: port_open(port), 5, f"{name} on port {port}")
        return child

    def nats_catalogue(self, ports: list[int], announced: list[int] = (), **configuration) -> str:
        """acme.example's stub on the servers at ``ports``, allowed to reach those and the client ports in
        ``announced`` (cluster nodes the servers announce, which the stub fails over to)."""
        return self.catalogue({"acme.example": self.bundled("templates/nats", dict({
            "servers": [f"nats://127.0.0.1:{p}" for p in ports],
            "reconnect": {"initialSeconds": 0.05, "maxSeconds": 0.5}}, **configuration),
            also=[f"127.0.0.1:{p}" for p in announced])})

    def two_runtimes(self, ports_a: list[int], ports_b: list[int] | None = None, announced: list[int] = (),
                     **configuration):
        a = self.daemon("runtime-a", "runtime-a.example",
                        self.nats_catalogue(ports_a, announced, **configuration)).client()
        b = self.daemon("runtime-b", "runtime-b.example",
                        self.nats_catalogue(ports_b or ports_a, announced, **configuration)).client()
        for client in (a, b):
            client.watch_status()
        a.listen(ALICE)
        b.listen(BOB)
        for client in (a, b):
            client.status("acme.example", "live")
        # listening is answered at once; the route through NATS follows (the stub's subscribe round trip)
        wait_for(lambda: self.try_converse(a, b, "warm-up"), 10, "bob to reach alice")
        wait_for(lambda: self.try_converse(b, a, "warm-up", frm=ALICE, to=BOB), 10, "alice to reach bob")
        return a, b

    def converse(self, a, b, text: str, timeout: float = 20, frm: str = BOB, to: str = ALICE) -> dict:
        """B sends from bob to alice (or ``frm`` to ``to``); A's client answers; returns B's response (B's
        runtime's or stub's own answer, e.g. 404 before alice's subscription reached the server, if that
        comes first)."""
        b.ids += 1
        request = {"id": f"b-{b.ids}", "type": "create", "from": frm, "to": to, "body": {"value": {"text": text}}}
        b.write(request)
        is_response = lambda m: m.get("type") == "response" and m.get("id") == request["id"]  # noqa: E731
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(is_response(m) for m in b.inbox):
                return b.next(is_response, 0)
            try:
                got = a.next(lambda m: m.get("to") == to and m.get("id") == request["id"], 0.02)
            except AssertionError:
                try:
                    return b.next(is_response, 0.02)
                except AssertionError:
                    continue
            self.assertEqual(got["from"], frm)
            self.assertEqual(got["body"]["value"], {"text": text})
            a.answer(got, 200, {"reply": f"re: {text}"})
            return b.next(is_response, timeout)
        raise AssertionError(f"neither alice nor bob heard of {request['id']} within {timeout} s")

    def try_converse(self, a, b, text: str, **addresses):
        response = self.converse(a, b, text, timeout=3, **addresses)
        return response if response["body"]["code"] == 200 else None

    def test_request_and_response_cross_runtimes_through_nats(self) -> None:
        port = free_port()
        self.nats("nats", port)
        a, b = self.two_runtimes([port])
        response = self.converse(a, b, "hello alice")
        self.assertEqual(response["body"]["code"], 200)
        self.assertEqual(response["from"], ALICE)
        self.assertEqual(response["body"]["value"], {"reply": "re: hello alice"})
        # and the other way round
        request = {"id": "a-1", "type": "update", "from": ALICE, "to": BOB, "body": {"value": 42}}
        a.write(request)
        got = b.next(lambda m: m.get("id") == "a-1" and m.get("to") == BOB)
        b.answer(got, 200, "ok")
        self.assertEqual(a.next(lambda m: m.get("id") == "a-1" and m.get("type") == "response")["body"]["value"], "ok")

    def test_tls_to_nats_with_a_private_ca(self) -> None:
        cert, key = self.certificate("nats.test")
        port = free_port()
        self.nats("nats-tls", port, tls=(cert, key))
        a, b = self.two_runtimes([port], tls={"caFile": cert})
        self.assertEqual(self.converse(a, b, "over tls")["body"]["code"], 200)

    def test_an_untrusted_nats_certificate_is_not_accepted(self) -> None:
        cert, key = self.certificate("nats.test")
        port = free_port()
        self.nats("nats-tls", port, tls=(cert, key))
        client = self.daemon("runtime-a", "runtime-a.example", self.nats_catalogue([port])).client()
        client.watch_status()
        client.listen(ALICE)
        status = client.status("acme.example", "failed")
        self.assertIn("certificate of 127.0.0.1", status.get("desc", ""))
        self.assertIn("configuration.tls", status.get("desc", ""))

    def test_credentials_from_the_store_log_in_and_bad_ones_fail_with_an_actionable_reason(self) -> None:
        port = free_port()
        self.nats("nats-auth", port, user=("acme", "s3cret"))
        good = self.daemon("runtime-a", "runtime-a.example", self.nats_catalogue([port]),
                           credentials={"acme.example": {"user": "acme", "password": "s3cret"}}).client()
        good.watch_status()
        good.listen(ALICE)
        good.status("acme.example", "live")
        bad = self.daemon("runtime-b", "runtime-b.example", self.nats_catalogue([port]),
                          credentials={"acme.example": {"user": "acme", "password": "wrong"}}).client()
        bad.watch_status()
        self.assert_stub_failed(bad, "acme.example", bad.send(bad.url, ALICE, "hi"), "refused the credentials",
                                "acme.example.json")

    def test_address_nobody_listens_on_is_answered_404(self) -> None:
        port = free_port()
        self.nats("nats", port)
        a, b = self.two_runtimes([port])
        response = b.send(BOB, "hyperty://acme.example/nobody", "anyone?")
        self.assertEqual(response["body"]["code"], 404)

    def test_a_message_from_another_domain_reaches_its_listener_marked_with_the_node_that_carried_it(self) -> None:
        # SPEC section 6: the node delivers to its own addresses whatever the `from` (federation), and the
        # receiving runtime records in body.via which stub brought it in.
        port = free_port()
        self.nats("nats", port)
        a, b = self.two_runtimes([port])
        b.listen("hyperty://beta.example/carol")
        b.ids += 1
        b.write({"id": "carol-1", "type": "create", "from": "hyperty://beta.example/carol", "to": ALICE,
                 "body": {"value": "hello from beta"}})
        got = a.next(lambda m: m.get("id") == "carol-1" and m.get("to") == ALICE, 10)
        self.assertEqual(got["from"], "hyperty://beta.example/carol")
        self.assertTrue(got["body"]["via"][0].startswith("hyperty-runtime://acme.example/protostub/"), got)
        a.answer(got, 200, "hi carol")
        response = b.next(lambda m: m.get("type") == "response" and m.get("id") == "carol-1", 10)
        self.assertEqual(response["body"]["value"], "hi carol")

    def test_awkward_addresses_are_carried_intact(self) -> None:
        port = free_port()
        self.nats("nats", port)
        a, b = self.two_runtimes([port])
        odd = "hyperty://acme.example/a.b*c>d e_f/%20ü?x=1#y"
        a.listen(odd)
        response = wait_for(lambda: self.try_converse(a, b, "odd", to=odd), 10, "a message to the odd address")
        self.assertEqual(response["from"], odd)

    def test_server_killed_and_restarted_goes_disconnected_then_live_with_every_request_answered(self) -> None:
        port = free_port()
        server = self.nats("nats", port)
        a, b = self.two_runtimes([port])
        self.assertEqual(self.converse(a, b, "before")["body"]["code"], 200)
        server.kill()
        a.status("acme.example", "disconnected")
        b.status("acme.example", "disconnected")
        during = b.send(BOB, ALICE, "while down", timeout=20)
        self.assertIn(during["body"]["code"], (503, 504), during)
        self.nats("nats-again", port)
        a.status("acme.example", "live")
        b.status("acme.example", "live")
        response = wait_for(lambda: self.try_converse(a, b, "after"), 10, "a conversation after the restart")
        self.assertEqual(response["body"]["value"], {"reply": "re: after"})

    def on_a_cluster(self):
        """A 3-node cluster and two runtimes talking through it: both start on node 0; A fails over to node 1,
        B to node 2, and the cluster routes between them. Each stub also learns every node from the servers'
        announcements, so both may reach all three client ports. Returns the nodes and the two clients."""
        ports, cluster = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
        nodes = [self.nats(f"nats-{i}", ports[i], cluster[i], [c for c in cluster if c != cluster[i]])
                 for i in range(3)]
        a, b = self.two_runtimes([ports[0], ports[1]], [ports[0], ports[2]], announced=ports)
        wait_for(lambda: self.try_converse(a, b, "cluster"), 10, "a conversation through the cluster")
        return nodes, a, b

    def test_cluster_node_killed_mid_session_stubs_fail_over_to_other_nodes(self) -> None:
        nodes, a, b = self.on_a_cluster()
        nodes[0].kill()
        a.status("acme.example", "disconnected")
        b.status("acme.example", "disconnected")
        a.status("acme.example", "live")
        b.status("acme.example", "live")
        answered = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            response = self.try_converse(a, b, f"failover {len(answered)}")
            if response:
                answered.append(response)
                if len(answered) == 3:
                    break
        self.assertEqual(len(answered), 3, "conversations after the failover")

    def pump(self, a, b, ids: set[str], timeout: float = 30) -> dict[str, list[dict]]:
        """alice (on A) answers each request that reaches her with its value; returns B's final answers to
        ``ids``, every one of them (a list each, to see a second one), or what came within ``timeout``."""
        answers: dict[str, list[dict]] = {}
        deadline = time.monotonic() + timeout
        while len(answers) < len(ids) and time.monotonic() < deadline:
            try:
                got = a.next(lambda m: m.get("to") == ALICE and m.get("id") in ids, 0.01)
                a.answer(got, 200, got["body"]["value"])
            except AssertionError:
                pass
            b.take_final_responses(ids, answers)
        # one more conversation the same way: a second answer to any of them would have come before its own
        self.converse(a, b, "barrier")
        b.take_final_responses(ids, answers)
        return answers

    def test_requests_sent_during_a_cluster_failover_wait_out_the_reconnect_and_each_get_one_answer(self) -> None:
        nodes, a, b = self.on_a_cluster()
        before = {f"before-{i}" for i in range(50)}
        for request in sorted(before):
            b.write({"id": request, "type": "create", "from": BOB, "to": ALICE, "body": {"value": request}})
        answered = self.pump(a, b, before)
        self.assertEqual({k: v[0]["body"]["code"] for k, v in answered.items()}, {k: 200 for k in before})
        # Nothing in flight: kill the node both stubs are on; once B's stub knows, send a burst through it.
        nodes[0].kill()
        b.status("acme.example", "disconnected")
        during = {f"during-{i}" for i in range(50)}
        for request in sorted(during):
            b.write({"id": request, "type": "create", "from": BOB, "to": ALICE, "body": {"value": request}})
        answered = self.pump(a, b, during)
        self.assertEqual(len(answered), len(during), f"{len(during) - len(answered)} requests got no final answer")
        self.assertTrue(all(len(v) == 1 for v in answered.values()), "exactly one final answer each")
        codes = {k: v[0]["body"]["code"] for k, v in answered.items()}
        self.assertEqual(codes, {k: 200 for k in during}, "each waited out the reconnect (no 503, no 404)")
        self.assertTrue(all(v[0]["body"]["value"] == k for k, v in answered.items()), "each its own answer")

if __name__ == "__main__":
    unittest.main()
