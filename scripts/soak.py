#!/usr/bin/env python3
"""Soak test for rethink-runtimed: one daemon under a long mixed load, checked for lost answers and growth.

It starts one daemon from the binaries in ``--bin`` (``rethink-runtimed`` and the native ``rethink-echo-stub``)
on a temporary socket, state directory and catalogue (echo domains ``soak-0.example`` .. ``soak-<n-1>.example``),
and for ``--seconds`` runs, all at once:

- well-behaved clients: each keeps a window of requests outstanding to random echo domains, reads
  continuously, and books every final answer by id (a runtime error code such as 408, 429, 502 or 503 is an
  answer too; SPEC section 2: every request gets exactly one final response);
- a stub killer: about every ``--kill-interval`` seconds, SIGKILL to a random echo stub (a child of the daemon); the
  daemon answers what was in flight 502 and redeploys the stub. It kills a domain's stub at most
  ``--max-kills-per-minute`` times a minute, below the crash policy that gives a stub up (``dead``);
- hostile peers whose answers are not counted: a client that sends and never reads, one that sends malformed,
  overlong and invalid UTF-8 lines, one that sends to ever new unknown domains (``hyperty://u<N>.example/x``)
  and one that connects and disconnects rapidly in several ways.

Every 10 s it prints the daemon's RSS (VmRSS) with the running counts. At the end it stops sending, waits
``--grace`` seconds for what is still outstanding, reads the registry, stops the daemon by PID (SIGTERM, then
waits) and prints the final counts, idle/peak/final RSS and a verdict line, ``VERDICT: PASS`` or
``VERDICT: FAIL (<reasons>)``. It fails when a well-behaved request got no final answer (missing), got more
than one (duplicate), got an answer that does not match it, when a well-behaved client got an answer to an id
it never sent or a line that is not JSON, or lost its connection,
when the daemon exited, or when peak RSS exceeded idle RSS + ``--rss-bound-mib``. Exit status 0 on PASS, 1 on
FAIL, 2 when it could not start.

Run it:
    make soak                                   # release build, 600 s (SOAK_SECONDS=120 make soak)
    python3 scripts/soak.py --bin "$(swift build -c release --show-bin-path)" --seconds 600
    python3 scripts/soak.py --bin .build/x86_64-unknown-linux-gnu/debug --seconds 60

Python 3 standard library only. ``--keep`` keeps the temporary directory (the daemon's log is in it).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

MIB = 1 << 20
ECHO_STUB = "rethink-echo-stub"
CRASH_WINDOW_SECONDS = 60  # the daemon's crash probation window (5 crashes in it: dead)


# MARK: command line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     epilog="A rate of 0 turns that hostile peer off.")
    parser.add_argument("--bin", required=True, help="directory holding rethink-runtimed and rethink-echo-stub")
    parser.add_argument("--seconds", type=float, default=600, help="duration of the load (default 600)")
    parser.add_argument("--rss-bound-mib", type=float, default=64, help="allowed peak RSS over idle (default 64)")
    parser.add_argument("--domains", type=int, default=8, help="echo domains soak-<i>.example (default 8)")
    parser.add_argument("--clients", type=int, default=4, help="well-behaved clients (default 4)")
    parser.add_argument("--window", type=int, default=16, help="outstanding requests per client (default 16)")
    parser.add_argument("--body-bytes", type=int, default=256, help="size of a request's value (default 256)")
    parser.add_argument("--kill-interval", type=float, default=5,
                        help="mean seconds between stub kills (default 5; 0: none)")
    parser.add_argument("--max-kills-per-minute", type=int, default=3,
                        help="kills of one domain's stub within 60 s (default 3; the daemon gives up at 5)")
    parser.add_argument("--unknown-rate", type=float, default=200,
                        help="requests/s to new unknown domains (default 200)")
    parser.add_argument("--silent-rate", type=float, default=200,
                        help="requests/s of 4 KiB from the client that never reads (default 200)")
    parser.add_argument("--garbage-rate", type=float, default=20, help="malformed lines/s (default 20)")
    parser.add_argument("--churn-rate", type=float, default=20, help="connections/s of the churner (default 20)")
    parser.add_argument("--grace", type=float, default=25,
                        help="seconds to wait for outstanding answers at the end (default 25: the daemon's "
                             "15 s response timeout and some)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


# MARK: the daemon


class Daemon:
    """One rethink-runtimed, a child of this script, in a temporary directory with its own catalogue."""

    def __init__(self, bin_dir: Path, work: Path, domains: list[str]) -> None:
        self.socket_path = str(work / "runtime.sock")
        self.log_path = work / "runtimed.log"
        write_catalogue(work / "catalogue", bin_dir / ECHO_STUB, domains)
        (work / "state").mkdir()
        (work / "runtimed.json").write_text("{}\n")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(bin_dir / "rethink-runtimed"), "--config", str(work / "runtimed.json"),
             "--socket", self.socket_path, "--state-dir", str(work / "state"),
             "--catalogue", str(work / "catalogue"), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_for_socket(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the daemon exited with status {self.proc.returncode} at start")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(self.socket_path)
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.socket_path} did not accept connections within {timeout} s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_bytes(self) -> int | None:
        return proc_status_kib(self.pid, "VmRSS")

    def open_fds(self) -> int | None:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def stub_pids(self) -> dict[int, str]:
        """The daemon's echo stubs still running: pid -> domain (from the stub's RETHINK_DOMAIN)."""
        stubs = {}
        for pid in child_pids(self.pid):
            domain = stub_domain(pid)
            if domain:
                stubs[pid] = domain
        return stubs

    def stop(self, timeout: float = 20) -> str:
        """SIGTERM, then wait; SIGKILL if it does not exit in time. Says how it ended."""
        if not self.alive():
            return f"had already exited with status {self.proc.returncode}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
            return f"exited with status {status} after SIGTERM"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"did not exit within {timeout:.0f} s of SIGTERM; killed"
        finally:
            self.log.close()

    def log_tail(self, lines: int = 20) -> list[str]:
        text = self.log_path.read_text(errors="replace").splitlines()
        return text[-lines:]

    def log_lines(self) -> int:
        with open(self.log_path, "rb") as log:
            return sum(1 for _ in log)


def write_catalogue(directory: Path, stub: Path, domains: list[str]) -> None:
    directory.mkdir()
    descriptor = {"objectName": "echo-native", "version": "1", "language": "executable",
                  "sourcePackageURL": str(stub)}
    for domain in domains:
        (directory / f"{domain}.json").write_text(json.dumps(descriptor))


def proc_status_kib(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status, in bytes."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def child_pids(pid: int) -> list[int]:
    children = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for task in tasks:
        try:
            children += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return children


def stub_domain(pid: int) -> str | None:
    """RETHINK_DOMAIN of an echo stub process; None for anything else (or a process already gone)."""
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith(ECHO_STUB[:15]):
            return None
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"RETHINK_DOMAIN="):
            return entry.split(b"=", 1)[1].decode(errors="replace")
    return None


# MARK: the socket


def connect(path: str, timeout: float = 10) -> tuple[socket.socket, dict, bytes]:
    """A connection, its greeting, and whatever arrived after the greeting's line."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    buffer = b""
    while b"\n" not in buffer:
        data = sock.recv(1 << 16)
        if not data:
            sock.close()
            raise ConnectionError("the daemon closed the connection before its greeting")
        buffer += data
    line, rest = buffer.split(b"\n", 1)
    return sock, json.loads(line), rest


class LineReader:
    """Splits what a socket delivers into lines; `read` returns [] after `timeout` seconds with nothing to read
    (None: it waits) and None at the end. The wait is a select, so the socket itself can stay blocking and a
    send on it from another thread never times out."""

    def __init__(self, sock: socket.socket, rest: bytes = b"", timeout: float | None = 0.5) -> None:
        self.sock = sock
        self.buffer = rest
        self.timeout = timeout

    def read(self) -> list[bytes] | None:
        if not select.select([self.sock], [], [], self.timeout)[0]:
            return []
        data = self.sock.recv(1 << 18)
        if not data:
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def final_code(message: dict) -> int | None:
    """The code of a final response (200 or more), else None."""
    if message.get("type") != "response":
        return None
    body = message.get("body")
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) and code >= 200 else None


class Pacer:
    """Sleeps so that a loop runs about `rate` times a second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate if rate > 0 else None
        self.next = time.monotonic()

    def wait(self, stop: threading.Event) -> bool:
        """False once `stop` is set (or the rate is 0)."""
        if self.interval is None:
            stop.wait()
            return False
        self.next += self.interval
        delay = self.next - time.monotonic()
        if delay > 0:
            return not stop.wait(delay)
        if delay < -1:  # fell behind (the machine is busy): do not make up for it in a burst
            self.next = time.monotonic()
        return not stop.is_set()


# MARK: well-behaved clients


class WellBehavedClient:
    """One connection with up to `window` requests outstanding, each to a random echo domain; a reader
    thread books every final answer by id. Ids are `w<index>-<n>`, n counting from 1."""

    def __init__(self, index: int, path: str, domains: list[str], window: int, body_bytes: int,
                 stop_sending: threading.Event) -> None:
        self.index = index
        self.domains = domains
        self.stop_sending = stop_sending
        self.done = threading.Event()
        self.sock, greeting, rest = connect(path)
        self.sock.settimeout(None)
        self.reader = LineReader(self.sock, rest)
        self.url = greeting["body"]["value"]["clientURL"]
        self.window = threading.Semaphore(window)
        self.padding = "p" * max(0, body_bytes - 24)
        self.lock = threading.Lock()
        self.outstanding: dict[int, tuple[str, str]] = {}  # n -> (to, value)
        self.answered = bytearray()  # answered[n-1]: a final answer came for request n
        self.counts: collections.Counter = collections.Counter()  # sent, answered, duplicates, ...
        self.codes: collections.Counter = collections.Counter()  # of first final answers
        self.problems: list[str] = []  # the first few odd answers, for the report
        self.failure: str | None = None
        self.threads = [threading.Thread(target=guarded(self.write_loop, self), daemon=True),
                        threading.Thread(target=guarded(self.read_loop, self), daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def write_loop(self) -> None:
        n = 0
        while not self.stop_sending.is_set():
            if not self.window.acquire(timeout=0.2):
                continue
            n += 1
            to = f"hyperty://{random.choice(self.domains)}/soak"
            value = f"{self.index}-{n}-{random.getrandbits(32):08x}-{self.padding}"
            with self.lock:
                self.outstanding[n] = (to, value)
                self.answered.append(0)
                self.counts["sent"] += 1
            line = encode({"id": f"w{self.index}-{n}", "type": "create", "from": self.url, "to": to,
                           "body": {"value": value}})
            try:
                self.sock.sendall(line)
            except OSError as error:
                self.lost(f"send failed: {error}")
                return

    def read_loop(self) -> None:
        while not self.done.is_set():
            lines = self.reader.read()
            if lines is None:
                self.lost("the daemon closed the connection")
                return
            for line in lines:
                self.book(line)

    def book(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self.odd("unparseable", f"a line that is not JSON: {line[:200]!r}")
            return
        code = final_code(message) if isinstance(message, dict) else None
        if code is None:
            if not (isinstance(message, dict) and message.get("type") == "response"):
                self.odd("unexpected", f"not a response: {line[:200]!r}")
            return  # a provisional response
        n = self.number(message.get("id"))
        with self.lock:
            if n is None or not 0 < n <= len(self.answered):
                self.odd("unknown", f"an answer to an id never sent: {line[:200]!r}")
                return
            if self.answered[n - 1]:
                self.odd("duplicates", f"a second final answer: {line[:200]!r}")
                return
            self.answered[n - 1] = 1
            to, value = self.outstanding.pop(n)
            self.counts["answered"] += 1
            self.codes[code] += 1
            body = message["body"]
            if message.get("from") != to or message.get("to") != self.url or (
                    code == 200 and body.get("value") != value):
                self.odd("mismatched", f"an answer that is not its request's: {line[:300]!r}")
        self.window.release()

    def number(self, message_id: object) -> int | None:
        prefix = f"w{self.index}-"
        if isinstance(message_id, str) and message_id.startswith(prefix) and message_id[len(prefix):].isdigit():
            return int(message_id[len(prefix):])
        return None

    def odd(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.problems) < 5:
            self.problems.append(f"client {self.index}: {detail}")

    def lost(self, why: str) -> None:
        if not self.done.is_set() and self.failure is None:
            self.failure = f"client {self.index} lost its connection: {why}"

    def pending(self) -> int:
        with self.lock:
            return len(self.outstanding)

    def close(self) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(5)
        self.sock.close()


def guarded(function, owner):
    """`function`, with an exception in it kept as the owner's failure (and printed) instead of lost."""
    def run() -> None:
        try:
            function()
        except Exception as error:  # noqa: BLE001 - a bug in the soak must not pass for a quiet daemon
            owner.failure = f"{type(owner).__name__} thread failed: {error!r}"
            traceback.print_exc()
    return run


# MARK: hostile peers


class Peer:
    """A hostile peer: a thread doing `session` over and over (reconnecting when the daemon drops it), with
    counters for the report. Its answers are not booked."""

    def __init__(self, name: str, path: str, domains: list[str], rate: float) -> None:
        self.name = name
        self.path = path
        self.domains = domains
        self.rate = rate
        self.stop = threading.Event()
        self.stats: collections.Counter = collections.Counter()
        self.failure: str | None = None
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=guarded(self.run, self), daemon=True, name=name)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.session()
            except (OSError, ValueError) as error:
                if self.stop.is_set():
                    break
                self.stats[f"dropped ({type(error).__name__})"] += 1
                self.stop.wait(0.5)
            finally:
                self.close_socket()

    def session(self) -> None:
        raise NotImplementedError

    def close_socket(self) -> None:
        sock, self.sock = self.sock, None
        if sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # ends the drain thread's recv, which close() alone does not
            except OSError:
                pass
            sock.close()

    def halt(self) -> None:
        self.stop.set()
        sock = self.sock
        if sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a send blocked on a daemon that does not read
            except OSError:
                pass
        self.thread.join(10)

    def drain(self, sock: socket.socket, rest: bytes) -> threading.Thread:
        """A thread reading and counting the codes of what comes back, until the connection ends."""
        def read() -> None:
            reader = LineReader(sock, rest, timeout=None)
            while True:
                try:
                    lines = reader.read()
                except (OSError, ValueError):  # ValueError: the socket was closed meanwhile
                    return
                if lines is None:
                    return
                for line in lines:
                    self.stats["answers"] += 1
                    try:
                        code = final_code(json.loads(line))
                    except ValueError:  # an answer that is not UTF-8 JSON: a failure (see failures)
                        code = "not UTF-8 JSON"
                    if code is not None:
                        self.stats[f"code {code}"] += 1
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def describe(self) -> str:
        return f"{self.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items(), key=str))


class SilentPeer(Peer):
    """Sends 4 KiB requests to the echo domains and never reads, not even the greeting. The daemon drops what
    it cannot deliver past the client output limit and disconnects it after the stall limit; it reconnects."""

    def session(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        self.stats["connections"] += 1
        pacer, n, filler = Pacer(self.rate), 0, "s" * 4096
        while pacer.wait(self.stop):
            n += 1
            to = f"hyperty://{random.choice(self.domains)}/silent"
            self.sock.sendall(encode({"id": n, "type": "create", "to": to, "body": {"value": filler}}))
            self.stats["sent"] += 1


def garbage_lines(domain: str) -> list[bytes]:
    """Lines a client should not send; the connection must stay. Most get an error answer; an empty line and a
    response to nothing get none; a few are requests after all and reach the echo stub. Invalid UTF-8 inside a
    string (g4, g5) gets 400 like any line that is not JSON."""
    to = f"hyperty://{domain}/garbage".encode()
    deep = b"[" * 5000 + b"]" * 5000
    return [
        b"not json at all",
        b"[1, 2, 3]",
        b"42",
        b'"just a string"',
        b"{}",
        b"",
        b"\x00\x00\x00\x00",
        b"\xff\xfe\xfd garbage",
        b'{"id": "g1", "type": "create"}',
        b'{"id": "g2", "type": "frobnicate", "to": "' + to + b'"}',
        b'{"id": "g3", "type": "create", "from": "hyperty://someone.else.example/x", "to": "' + to + b'"}',
        b'{"id": "g4", "type": "create", "to": "' + to + b'\xff\xfe", "body": {}}',
        b'{"id": "g5\xc3", "type": "create", "to": "' + to + b'"}',
        b'{"id": "g6", "type": "create", "to": "hyperty://Not_A_Domain!/x"}',
        b'{"id": "g7", "type": "create", "to": "' + to + b'", "body": ' + deep + b"}",
        b'{"id": "g8", "type": "create", "to": "' + to + b'", "body": {"value": "unterminated}',
        b'{"id": "g9", "id": "g9b", "type": "create", "to": "' + to + b'"}',
        b'{"id": "g10", "type": "create", "to": "' + to + b'"}\r',
        b'{"id": 1e400, "type": "create", "to": "' + to + b'"}',
        b'{"id": {"nested": [true]}, "type": "create", "to": "' + to + b'"}',
        b'{"id": "g11", "type": "response", "to": "' + to + b'", "body": {"code": 200}}',
        b'{"id": "g12", "type": "read", "to": "hyperty-runtime://localhost/nobody/registry"}',
        b'{"id": "g13", "type": "create", "to": "' + to + b'", "body": {"via": 17, "identity": [1]}}',
        b'{"id": "g14", "type": "create", "to": "' + to + b'", "body": "not an object"}',
        b'{"id": "g15", "type": "create", "to": "' + to + b'", "body": {"value": "\\ud800 lone surrogate"}}',
    ]


def overlong_lines(domain: str) -> list[bytes]:
    """Lines over the 1 MiB limit: one with its id up front (413 with that id), one with it at the end, and
    a run of random bytes."""
    to = f"hyperty://{domain}/overlong".encode()
    filler = b"x" * (MIB + 4096)
    return [
        b'{"id": "long1", "type": "create", "to": "' + to + b'", "body": {"value": "' + filler + b'"}}',
        b'{"body": {"value": "' + filler + b'"}, "type": "create", "to": "' + to + b'", "id": "long2"}',
        bytes(random.getrandbits(8) | 0x80 for _ in range(64 * 1024)) + b"x" * (MIB + 16),
    ]


class GarblingPeer(Peer):
    """Sends malformed, invalid UTF-8 and overlong lines (every 5 s one over the limit), reading its answers."""

    def session(self) -> None:
        self.sock, _, rest = connect(self.path)
        self.sock.settimeout(None)
        self.stats["connections"] += 1
        reader = self.drain(self.sock, rest)
        garbage = garbage_lines(self.domains[0])
        pacer, n, last_long = Pacer(self.rate), 0, time.monotonic()
        while pacer.wait(self.stop) and reader.is_alive():
            n += 1
            self.sock.sendall(garbage[n % len(garbage)] + b"\n")
            self.stats["lines"] += 1
            if time.monotonic() - last_long > 5:
                last_long = time.monotonic()
                self.sock.sendall(random.choice(overlong_lines(random.choice(self.domains))) + b"\n")
                self.stats["overlong lines"] += 1
        if not self.stop.is_set():
            self.stats["disconnected by the daemon"] += 1


class WanderingPeer(Peer):
    """Sends to ever new domains nobody publishes: `hyperty://u<N>.example/x`, N counting up (404s)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.next_domain = 0

    def session(self) -> None:
        self.sock, _, rest = connect(self.path)
        self.sock.settimeout(None)
        self.stats["connections"] += 1
        reader = self.drain(self.sock, rest)
        pacer = Pacer(self.rate)
        while pacer.wait(self.stop) and reader.is_alive():
            self.next_domain += 1
            self.sock.sendall(encode({"id": self.next_domain, "type": "create",
                                      "to": f"hyperty://u{self.next_domain}.example/x", "body": {}}))
            self.stats["sent"] += 1
        if not self.stop.is_set():
            self.stats["disconnected by the daemon"] += 1


class ChurningPeer(Peer):
    """Connects and disconnects rapidly: at once, after the greeting, after a request, halfway through a
    line, and with a reset (SO_LINGER 0) after a request."""

    MODES = ("close at once", "close after greeting", "close after request", "close mid-line", "reset")

    def session(self) -> None:
        pacer = Pacer(self.rate)
        while pacer.wait(self.stop):
            mode = random.choice(self.MODES)
            self.churn(mode)
            self.stats[mode] += 1

    def churn(self, mode: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)
        request = encode({"id": 1, "type": "create", "to": f"hyperty://{random.choice(self.domains)}/churn",
                          "body": {"value": "bye"}})
        if mode == "close after greeting":
            self.sock.recv(4096)
        elif mode == "close after request":
            self.sock.sendall(request)
        elif mode == "close mid-line":
            self.sock.sendall(request[: len(request) // 2])
        elif mode == "reset":
            self.sock.sendall(request)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close_socket()


# MARK: the stub killer


class StubKiller:
    """Every `interval` seconds, SIGKILL to one of the daemon's echo stubs, chosen at random among the domains
    killed fewer than `per_minute` times in the last 60 s."""

    def __init__(self, daemon: Daemon, interval: float, per_minute: int) -> None:
        self.daemon = daemon
        self.interval = interval
        self.per_minute = per_minute
        self.stop = threading.Event()
        self.kills: list[tuple[float, str]] = []
        self.by_domain: collections.Counter = collections.Counter()
        self.idle_rounds = 0  # rounds with no stub to kill (all recently killed, or redeploying)
        self.failure: str | None = None
        self.thread = threading.Thread(target=guarded(self.run, self), daemon=True, name="killer")

    def start(self) -> None:
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(5)

    def run(self) -> None:
        if self.interval <= 0:
            return
        while not self.stop.wait(self.interval * random.uniform(0.5, 1.5)):
            self.kill_one()

    def kill_one(self) -> None:
        now = time.monotonic()
        recent = collections.Counter(d for t, d in self.kills if now - t < CRASH_WINDOW_SECONDS)
        victims = [(pid, d) for pid, d in self.daemon.stub_pids().items() if recent[d] < self.per_minute]
        if not victims:
            self.idle_rounds += 1
            return
        pid, domain = random.choice(victims)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills.append((now, domain))
        self.by_domain[domain] += 1


# MARK: watching and reporting


class Watch:
    """The daemon's RSS sampled every second, a progress line every 10 s."""

    def __init__(self, daemon: Daemon, clients: list[WellBehavedClient], killer: StubKiller) -> None:
        self.daemon = daemon
        self.clients = clients
        self.killer = killer
        self.started = time.monotonic()
        self.idle = daemon.rss_bytes() or 0
        self.peak = self.idle
        self.last_print = self.started

    def sample(self) -> int | None:
        rss = self.daemon.rss_bytes()
        if rss is not None:
            self.peak = max(self.peak, rss)
        if time.monotonic() - self.last_print >= 10:
            self.last_print = time.monotonic()
            self.progress(rss)
        return rss

    def progress(self, rss: int | None) -> None:
        totals, codes = tally(self.clients)
        pending = sum(c.pending() for c in self.clients)
        print(f"t={time.monotonic() - self.started:6.0f}s  rss {mib(rss)} (peak {mib(self.peak)})  "
              f"sent {totals['sent']}  answered {totals['answered']}  outstanding {pending}  "
              f"codes {format_codes(codes)}  kills {len(self.killer.kills)}", flush=True)

    def run_until(self, deadline: float, condition=lambda: False) -> None:
        """Samples until `deadline`, the daemon's exit or `condition()`."""
        while time.monotonic() < deadline and self.daemon.alive() and not condition():
            self.sample()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def tally(clients: list[WellBehavedClient]) -> tuple[collections.Counter, collections.Counter]:
    totals, codes = collections.Counter(), collections.Counter()
    for client in clients:
        with client.lock:
            totals.update(client.counts)
            codes.update(client.codes)
    return totals, codes


def mib(value: int | None) -> str:
    return "?" if value is None else f"{value / MIB:.1f} MiB"


def format_codes(codes: collections.Counter) -> str:
    return " ".join(f"{code}:{count}" for code, count in sorted(codes.items())) or "-"


def read_registry(path: str) -> list[dict] | None:
    """The daemon's stub listing (`read` to <runtimeURL>/registry), or None if it could not be had."""
    try:
        sock, greeting, rest = connect(path)
    except (OSError, ValueError):
        return None
    with sock:
        runtime = greeting["body"]["value"]["runtimeURL"]
        sock.sendall(encode({"id": "soak-registry", "type": "read", "to": f"{runtime}/registry"}))
        reader, deadline = LineReader(sock, rest), time.monotonic() + 10
        sock.settimeout(1)
        while time.monotonic() < deadline:
            try:
                lines = reader.read()
            except OSError:
                return None
            if lines is None:
                return None
            for line in lines:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("id") == "soak-registry" and final_code(message):
                    return message["body"].get("value")
    return None


def warm_up(path: str, domains: list[str]) -> None:
    """One request to each echo domain, so that every stub is deployed before the idle RSS is taken."""
    sock, _, rest = connect(path, timeout=20)
    with sock:
        for index, domain in enumerate(domains):
            sock.sendall(encode({"id": f"warm-{index}", "type": "create", "to": f"hyperty://{domain}/warm"}))
        reader, answered, deadline = LineReader(sock, rest), set(), time.monotonic() + 30
        while len(answered) < len(domains):
            if time.monotonic() > deadline:
                raise RuntimeError(f"warm-up: only {len(answered)} of {len(domains)} echo domains answered in 30 s")
            lines = reader.read()
            if lines is None:
                raise RuntimeError("the daemon closed the warm-up connection")
            for line in lines:
                message = json.loads(line)
                code = final_code(message)
                if code is not None and code != 200:
                    raise RuntimeError(f"warm-up request answered {code}: {line[:300]!r}")
                answered.add(message.get("id"))


@dataclasses.dataclass
class Ending:
    rss: int | None  # the daemon's RSS when the load was over
    fds: int | None  # its open descriptors once the clients had gone
    registry: list[dict] | None
    alive: bool  # it was still running when the load was over
    how: str  # how it stopped


class Soak:
    """The whole run: daemon, load, end, report."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.domains = [f"soak-{i}.example" for i in range(args.domains)]
        self.daemon = Daemon(Path(args.bin).resolve(), work, self.domains)
        self.stop_sending = threading.Event()
        self.clients: list[WellBehavedClient] = []
        self.peers: list[Peer] = []
        self.killer = StubKiller(self.daemon, args.kill_interval, args.max_kills_per_minute)
        self.notes: list[str] = []

    def start(self) -> None:
        self.daemon.wait_for_socket()
        warm_up(self.daemon.socket_path, self.domains)
        time.sleep(2)
        self.idle_fds = self.daemon.open_fds()
        path, args = self.daemon.socket_path, self.args
        self.clients = [WellBehavedClient(i, path, self.domains, args.window, args.body_bytes, self.stop_sending)
                        for i in range(args.clients)]
        self.peers = [SilentPeer("silent", path, self.domains, args.silent_rate),
                      GarblingPeer("garbling", path, self.domains, args.garbage_rate),
                      WanderingPeer("unknown domains", path, self.domains, args.unknown_rate),
                      ChurningPeer("churning", path, self.domains, args.churn_rate)]

    def run(self) -> bool:
        watch = Watch(self.daemon, self.clients, self.killer)
        print(f"daemon pid {self.daemon.pid}, idle rss {mib(watch.idle)}, {len(self.domains)} echo domains, "
              f"{len(self.clients)} clients x window {self.args.window}, {self.args.seconds:.0f} s", flush=True)
        for part in [*self.clients, *self.peers, self.killer]:
            part.start()
        watch.run_until(time.monotonic() + self.args.seconds)
        self.stop_sending.set()
        self.killer.halt()
        for peer in self.peers:
            peer.halt()
        watch.run_until(time.monotonic() + self.args.grace,
                        lambda: all(c.pending() == 0 or c.failure for c in self.clients))
        ending = self.finish()
        watch.peak = max(watch.peak, ending.rss or 0)
        self.print_counts(watch, ending)
        reasons = self.failures(watch, ending)
        if reasons:
            print("last lines of the daemon's log:")
            for line in self.daemon.log_tail():
                print(f"  {line}")
            print(f"VERDICT: FAIL ({'; '.join(reasons)})")
        else:
            print("VERDICT: PASS")
        return not reasons

    def finish(self) -> Ending:
        """What the daemon looks like after the load: RSS, descriptors and registry, then how it stopped."""
        final_rss = self.daemon.rss_bytes()
        for client in self.clients:
            client.close()
        time.sleep(1)  # the daemon sees the clients go
        alive = self.daemon.alive()
        final_fds = self.daemon.open_fds()
        registry = read_registry(self.daemon.socket_path) if alive else None
        return Ending(final_rss, final_fds, registry, alive, self.daemon.stop())

    def print_counts(self, watch: Watch, ending: Ending) -> None:
        totals, codes = tally(self.clients)
        print()
        print(f"== soak: {time.monotonic() - watch.started:.0f} s, {os.cpu_count()} cores")
        print(f"well-behaved: sent {totals['sent']}, answered {totals['answered']}, missing {self.missing()}, "
              f"duplicates {totals['duplicates']}, mismatched {totals['mismatched']}, "
              f"unknown ids {totals['unknown']}, unparseable {totals['unparseable']}")
        print(f"by code: {format_codes(codes)}")
        print(f"stub kills: {len(self.killer.kills)} ({format_codes(self.killer.by_domain)}); "
              f"rounds with no stub to kill: {self.killer.idle_rounds}")
        for peer in self.peers:
            print(peer.describe())
        print(f"rss: idle {mib(watch.idle)}, peak {mib(watch.peak)}, final {mib(ending.rss)} "
              f"(bound: idle + {self.args.rss_bound_mib:g} MiB)")
        print(f"daemon's open descriptors: idle {self.idle_fds}, final {ending.fds} (both without clients)")
        self.print_registry(ending.registry)
        print(f"daemon: {ending.how}; log {self.daemon.log_lines()} lines")
        for client in self.clients:
            for problem in client.problems:
                print(f"  {problem}")

    def failures(self, watch: Watch, ending: Ending) -> list[str]:
        totals, _ = tally(self.clients)
        reasons = []
        if totals["sent"] == 0:
            reasons.append("nothing was sent")
        if self.missing():
            reasons.append(f"{self.missing()} missing")
        for kind in ("duplicates", "mismatched", "unknown", "unparseable"):
            if totals[kind]:
                reasons.append(f"{totals[kind]} {kind}")
        not_json = sum(peer.stats["code not UTF-8 JSON"] for peer in self.peers)
        if not_json:
            reasons.append(f"{not_json} answers to hostile peers were not UTF-8 JSON")
        if not ending.alive:
            reasons.append(f"the daemon exited during the soak ({ending.how})")
        if watch.peak > watch.idle + self.args.rss_bound_mib * MIB:
            reasons.append(f"peak rss {mib(watch.peak)} over idle {mib(watch.idle)} + {self.args.rss_bound_mib:g} MiB")
        return reasons + [part.failure for part in [*self.clients, *self.peers, self.killer] if part.failure]

    def missing(self) -> int:
        """Well-behaved requests still without a final answer."""
        return sum(client.pending() for client in self.clients)

    def print_registry(self, registry: list[dict] | None) -> None:
        if registry is None:
            print("registry: could not be read")
            return
        ours = [s for s in registry if s.get("domain") in self.domains]
        statuses = collections.Counter(s.get("status") for s in ours)
        print(f"registry: {len(registry)} stubs, echo stubs {dict(statuses)}; restarts "
              + " ".join(f"{s['domain'].split('.')[0]}:{s.get('restarts')}" for s in ours))
        for stub in ours:
            if stub.get("restarts", 0) > self.killer.by_domain[stub["domain"]]:
                print(f"  note: {stub['domain']} restarted {stub['restarts']} times, killed "
                      f"{self.killer.by_domain[stub['domain']]} times")


def main() -> int:
    args = parse_args()
    bin_dir = Path(args.bin)
    for program in ("rethink-runtimed", ECHO_STUB):
        if not os.access(bin_dir / program, os.X_OK):
            print(f"soak.py: {bin_dir / program} is not an executable; build it first (make soak)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="rethink-soak-"))
    os.chmod(work, 0o755)
    soak = None
    try:
        soak = Soak(args, work)
        soak.start()
        passed = soak.run()
    except (RuntimeError, OSError, ValueError) as error:
        print(f"soak.py: could not run: {error}", file=sys.stderr)
        if soak:
            print("\n".join(soak.daemon.log_tail()), file=sys.stderr)
        passed = None
    finally:
        if soak and soak.daemon.alive():
            soak.daemon.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 2 if passed is None else 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
