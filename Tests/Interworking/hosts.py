"""Two hosts for the federation test and demo: network namespaces joined by a veth pair, each with its own
address, or, where namespaces cannot be made (no root), both on 127.0.0.1, said in one line.

Only the network is separate: the daemons' unix sockets stay in the test's directory, so the test's clients
reach both. Each namespace is removed (and the veth pair with it) by ``down()``.
"""

from __future__ import annotations

import os
import subprocess


class Hosts:
    def __init__(self, tag: str) -> None:
        self.names = {"a": f"rethink-{tag}-a", "b": f"rethink-{tag}-b"}
        self.addresses = {"a": "127.0.0.1", "b": "127.0.0.1"}
        self.namespaces = False
        self.why = ""
        if os.geteuid() != 0:
            self.why = "not root: both hosts run on 127.0.0.1"
            return
        if os.environ.get("RETHINK_NO_NETNS"):
            self.why = "RETHINK_NO_NETNS is set: both hosts run on 127.0.0.1"
            return
        subnet = 64 + os.getpid() % 128
        try:
            for name in self.names.values():
                self._ip("netns", "add", name)
            self.namespaces = True
            veth = (f"rf{os.getpid() % 100000}a", f"rf{os.getpid() % 100000}b")
            self._ip("link", "add", veth[0], "type", "veth", "peer", "name", veth[1])
            for host, device, octet in (("a", veth[0], 1), ("b", veth[1], 2)):
                self._ip("link", "set", device, "netns", self.names[host])
                address = f"10.77.{subnet}.{octet}"
                self._ip("-n", self.names[host], "addr", "add", f"{address}/24", "dev", device)
                self._ip("-n", self.names[host], "link", "set", device, "up")
                self._ip("-n", self.names[host], "link", "set", "lo", "up")
                self.addresses[host] = address
        except (OSError, subprocess.CalledProcessError) as error:
            self.down()
            self.namespaces = False
            self.addresses = {"a": "127.0.0.1", "b": "127.0.0.1"}
            self.why = f"network namespaces cannot be made here ({error}): both hosts run on 127.0.0.1"

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def prefix(self, host: str) -> list[str]:
        """What runs a command on ``host``."""
        return ["ip", "netns", "exec", self.names[host]] if self.namespaces else []

    def listening(self, host: str, port: int) -> bool:
        """Whether something on ``host`` listens on TCP ``port``."""
        if not self.namespaces:
            from harness import port_open
            return port_open(port, self.addresses[host])
        out = subprocess.run(["ss", "-N", self.names[host], "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
        return bool(out.strip())

    def describe(self) -> str:
        if not self.namespaces:
            return self.why
        return (f"host A: network namespace {self.names['a']}, {self.addresses['a']}; "
                f"host B: {self.names['b']}, {self.addresses['b']}; joined by a veth pair")

    def down(self) -> None:
        for name in self.names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
