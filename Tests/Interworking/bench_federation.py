"""The federation benchmark (``make bench-federation``; not part of ``make test``): what a conversation
between two domains on two hosts costs, against the message node alone.

The set-up is the federation test's (two network namespaces, or 127.0.0.1 without root; each host its own
nginx-published signed NATS stub, NATS and daemon). It measures:

- first contact, from alice's first message to a domain her runtime has never seen to bob's answer back
  at alice: beta's descriptor and package fetched over HTTPS from host B, the signature checked, the stub
  deployed and connected to beta's NATS; on a fresh host-A daemon (an empty package cache) each time;
- one request at a time alice -> bob -> alice, p50 and p99 over 1,000;
- the baseline, run in the same script: the same round trip as a bare NATS request and reply between the
  two hosts (a client on host A, a responder on host B, on beta's NATS), no runtime at all.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import unittest

import test_federation
from harness import wait_for
from test_federation import ALICE, BOB

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1000"))
FIRST_CONTACTS = int(os.environ.get("BENCH_FIRST_CONTACTS", "5"))

RESPONDER = r"""
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sock.sendall(b'CONNECT {"verbose":false}\r\nSUB bench.bob 1\r\nPING\r\n')
buffer = b""
while True:
    data = sock.recv(65536)
    if not data:
        break
    buffer += data
    while True:
        end = buffer.find(b"\r\n")
        if end < 0:
            break
        line = buffer[:end].decode()
        if line.startswith("MSG"):
            parts = line.split()
            size = int(parts[-1])
            if len(buffer) < end + 2 + size + 2:
                break
            payload = buffer[end + 2:end + 2 + size]
            buffer = buffer[end + 2 + size + 2:]
            reply = parts[3]
            sock.sendall(b"PUB %s %d\r\n%s\r\n" % (reply.encode(), len(payload), payload))
            continue
        buffer = buffer[end + 2:]
        if line == "PING":
            sock.sendall(b"PONG\r\n")
        elif line == "PONG":
            print("subscribed", flush=True)  # the server has processed the SUB before it
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class FederationBench(test_federation.Federation):
    # the set-up without the test's own conversation
    test_alice_and_bob_talk_across_hosts_through_each_others_own_stubs_fetched_on_the_fly = None

    def test_latency_and_first_contact_against_bare_nats(self) -> None:
        print(self.hosts.describe(), flush=True)
        baseline = self.bare_nats_round_trips()
        b = self.runtime("b")
        b.listen(BOB)
        b.status("beta.example", "live", timeout=20)
        firsts = []
        for attempt in range(FIRST_CONTACTS):
            a = self.runtime("a", name=f"runtime-a{attempt}")
            a.listen(ALICE)
            a.status("acme.example", "live", timeout=20)
            started = time.monotonic()
            answer = self.converse(a, b, ALICE, BOB, f"first-{attempt}")
            firsts.append(time.monotonic() - started)
            self.assertEqual(answer["body"]["code"], 200, answer)
        times = []
        for index in range(ROUNDS):
            a.ids += 1
            request = {"id": f"rt-{index}", "type": "create", "from": ALICE, "to": BOB, "body": {"value": index}}
            started = time.monotonic()
            a.write(request)
            got = b.next(lambda m: m.get("id") == request["id"] and m.get("to") == BOB, 10)
            b.answer(got, 200, index)
            answer = a.next(lambda m: m.get("type") == "response" and m.get("id") == request["id"], 10)
            times.append(time.monotonic() - started)
            self.assertEqual(answer["body"]["value"], index)
        report = {
            "hosts": "network namespaces" if self.hosts.namespaces else "127.0.0.1",
            "first_contact_ms": {"p50": round(statistics.median(firsts) * 1000, 2),
                                 "max": round(max(firsts) * 1000, 2), "runs": len(firsts)},
            "round_trip_ms": {"p50": round(percentile(times, 0.5) * 1000, 3),
                              "p99": round(percentile(times, 0.99) * 1000, 3), "requests": len(times)},
            "bare_nats_round_trip_ms": {"p50": round(percentile(baseline, 0.5) * 1000, 3),
                                        "p99": round(percentile(baseline, 0.99) * 1000, 3)},
        }
        report["round_trip_p50_over_bare_nats"] = round(
            report["round_trip_ms"]["p50"] / report["bare_nats_round_trip_ms"]["p50"], 2)
        print(json.dumps(report, indent=2), flush=True)

    def bare_nats_round_trips(self) -> list[float]:
        """Request and reply on beta's NATS between the hosts, from a client on A to a responder on B."""
        address, port = self.hosts.addresses["b"], self.nats["b"][0].port
        responder = self.run_on("b", [sys.executable, "-c", RESPONDER, address, str(port)], "bare-responder")
        wait_for(lambda: "subscribed" in responder.output(), 10, "the bare responder's subscription")
        client = subprocess.Popen(self.hosts.prefix("a") + [sys.executable, "-c", BARE_CLIENT, address, str(port),
                                                            str(ROUNDS)], stdout=subprocess.PIPE, text=True)
        out, _ = client.communicate(timeout=120)
        responder.stop()
        return [float(x) for x in out.split()]


BARE_CLIENT = r"""
import socket, sys, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench.* 1\r\nPING\r\n')
buffer = b""
def read_until(marker):
    global buffer
    while marker not in buffer:
        buffer += sock.recv(65536)
read_until(b"PONG\r\n")
buffer = b""
payload = b'{"id":1,"type":"create","from":"hyperty://acme.example/alice","to":"hyperty://beta.example/bob","body":{"value":1}}'
for i in range(int(sys.argv[3])):
    started = time.monotonic()
    sock.sendall(b"PUB bench.bob _INBOX.bench.%d %d\r\n%s\r\n" % (i, len(payload), payload))
    read_until(b"\r\n" + payload + b"\r\n")
    buffer = b""
    print(time.monotonic() - started)
"""


if __name__ == "__main__":
    unittest.main()
