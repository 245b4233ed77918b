"""What the interworking tests share: real servers and real daemons as direct children on 127.0.0.1,
and a small client for the daemon's socket (SPEC section 5).

Servers and daemons are started as children of the test process and stopped by PID (then waited
on), each in its own temporary directory; ports are ephemeral. The daemon binary comes from
``RETHINK_RUNTIMED_BIN`` (the Makefile passes ``$(swift build --show-bin-path)/rethink-runtimed``).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "config" / "catalogue"
DAEMON_BIN = os.environ.get("RETHINK_RUNTIMED_BIN", "")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def destination(server: str) -> str:
    """The ``host:port`` constraint entry (SPEC section 7) for one ``configuration.servers`` entry, which may
    carry a scheme (``nats://127.0.0.1:4222``) and must carry a port; an IPv6 host keeps its brackets."""
    text = server.partition("://")[2] or server
    host, colon, port = text.rstrip("/").rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"server {server!r} is not host:port")
    return f"{host}:{int(port)}"


def constraints_for(configuration: dict, also: Iterable[str] = ()) -> dict:
    """The descriptor ``constraints`` that let a stub reach exactly the servers of its ``configuration`` (and
    the servers in ``also``, e.g. the cluster nodes a NATS server announces): TCP destinations in ``connect``,
    UDP ones in ``datagram`` when ``configuration.transport`` is ``udp`` (the SIP stub). The daemon enforces
    them: a server missing here is refused."""
    servers = configuration.get("servers", [])
    destinations = list(dict.fromkeys(destination(s) for s in [*servers, *also]))
    kind = "datagram" if str(configuration.get("transport", "")).lower() == "udp" else "connect"
    return {kind: destinations}


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def unix_socket_open(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
            return True
        except OSError:
            return False


def require(*programs: str) -> None:
    missing = [p for p in programs if not shutil.which(p, path="/usr/sbin:/usr/bin:/sbin:/bin")]
    if missing:
        raise unittest.SkipTest(f"not installed: {', '.join(missing)} (scripts/install-deps.sh installs them)")


class Child:
    """A server process, a direct child of the test, its output in a log file."""

    def __init__(self, argv: list[str], workdir: str, name: str, **popen: Any) -> None:
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=workdir, **popen)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log_path).read_text(errors="replace")


class Workspace(unittest.TestCase):
    """A TestCase with a temporary directory and children stopped at the end, in reverse order."""

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="rethink-iw-")
        os.chmod(self.dir, 0o755)
        self.children: list[Child] = []
        self._problems = self._count_problems()
        self.addCleanup(self._cleanup)

    def _count_problems(self) -> int:
        result = getattr(getattr(self, "_outcome", None), "result", None)
        return len(getattr(result, "failures", [])) + len(getattr(result, "errors", []))

    def _cleanup(self) -> None:
        for child in reversed(self.children):
            child.stop()
        failed = self._count_problems() > self._problems
        if failed:
            self._print_log_tails()
        if os.environ.get("RETHINK_KEEP_LOGS") or failed:
            print(f"\nlogs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _print_log_tails(self, lines: int = 40) -> None:
        """A failed test's evidence where CI shows it: the end of every server's and daemon's log (the kept
        directory is gone with the CI machine)."""
        for child in self.children:
            try:
                with open(child.log_path, "rb") as log:
                    tail = log.read().decode("utf-8", "replace").splitlines()[-lines:]
            except OSError:
                continue
            print(f"\n--- the last {len(tail)} lines of {child.name}.log ---")
            print("\n".join(tail))

    def start(self, argv: list[str], name: str, **popen: Any) -> Child:
        child = Child(argv, self.dir, name, **popen)
        self.children.append(child)
        return child

    def path(self, *parts: str) -> str:
        return os.path.join(self.dir, *parts)

    def certificate(self, name: str, directory: str | None = None) -> tuple[str, str]:
        """A self-signed certificate (and its key) for ``name`` and 127.0.0.1; the certificate is its own CA file."""
        directory = directory or self.dir
        cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                        "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"], check=True, capture_output=True,
                       timeout=20)
        os.chmod(key, 0o644)  # a throwaway key; servers that drop root privileges must read it
        return cert, key

    def catalogue(self, descriptors: dict[str, dict]) -> str:
        """A catalogue directory of ``<key>.json`` descriptors over the bundled packages."""
        directory = self.path(f"catalogue-{len(os.listdir(self.dir))}")
        os.mkdir(directory)
        os.symlink(CATALOGUE / "packages", os.path.join(directory, "packages"))
        for key, descriptor in descriptors.items():
            Path(directory, f"{key}.json").write_text(json.dumps(descriptor))
        return directory

    def bundled(self, key: str, configuration: dict, also: Iterable[str] = ()) -> dict:
        """The bundled descriptor ``key`` (a template) with ``configuration`` replaced and ``constraints``
        granting exactly its servers (and ``also``), as ``constraints_for`` derives them."""
        descriptor = json.loads((CATALOGUE / f"{key}.json").read_text())
        descriptor["configuration"] = configuration
        descriptor["constraints"] = constraints_for(configuration, also)
        return descriptor

    def iw_runtime(self, template: str, key: str, port: int, identity: dict | None, **configuration: Any) -> "Client":
        """A daemon whose catalogue serves ``key`` with ``templates/<template>`` pointed at 127.0.0.1:``port``
        (fast reconnects, more ``configuration``; constraints granting that server only), ``identity`` in its
        credential store; a client watching stub status."""
        catalogue = self.catalogue({key: self.bundled(f"templates/{template}", dict({
            "servers": [f"127.0.0.1:{port}"], "reconnect": {"initialSeconds": 0.05, "maxSeconds": 0.5}},
            **configuration))})
        self.runtime_daemon = self.daemon("runtime", "runtime.test", catalogue,
                                          credentials={key: identity} if identity else None)
        client = self.runtime_daemon.client()
        client.watch_status()
        return client

    def assert_outage_answered(self, client: "Client", key: str, server: Child, restart: Callable[[], Any],
                               send: Callable[[], dict]) -> None:
        """Kill ``server``: the stub reports ``disconnected`` and a request is answered 503 at once;
        ``restart()`` it: the stub reports ``live`` again."""
        server.kill()
        client.status(key, "disconnected")
        response = send()
        self.assertEqual(response["body"]["code"], 503, response)
        restart()
        client.status(key, "live", timeout=15)

    def assert_stub_failed(self, client: "Client", key: str, response: dict, *phrases: str) -> None:
        """``response`` (to a request that deployed the stub) is 502, and the stub reports ``failed`` with a
        ``desc`` holding every phrase."""
        self.assertEqual(response["body"]["code"], 502, response)
        # the broadcast comes once the registry applied it; then the listing shows it too
        status = client.status(key, "failed")
        self.assertEqual(client.stub(key)["status"], "failed")
        for phrase in phrases:
            self.assertIn(phrase, status.get("desc", ""))

    def daemon(self, name: str, domain: str, catalogue: str, credentials: dict[str, dict] | None = None,
               response_timeout: float = 15, settings: dict | None = None, prefix: list[str] = ()) -> "Daemon":
        """A daemon on ``catalogue``; ``settings`` are more keys of its configuration file (``discovery``...);
        ``prefix`` runs it through another command (``ip netns exec HOST``)."""
        if not DAEMON_BIN or not os.access(DAEMON_BIN, os.X_OK):
            raise AssertionError("RETHINK_RUNTIMED_BIN must name the built rethink-runtimed (make test-interworking "
                                 "sets it)")
        state = self.path(f"{name}-state")
        os.mkdir(state)
        config = dict(settings or {}, responseTimeoutSeconds=response_timeout)
        if credentials:
            creds = self.path(f"{name}-credentials")
            os.mkdir(creds, 0o700)
            for key, value in credentials.items():
                # Credentials files must be 0600: the daemon refuses one that others can read.
                secret = Path(creds, f"{key}.json")
                secret.touch(0o600)
                secret.write_text(json.dumps(value))
            config["credentialsDirectories"] = [creds]
        Path(self.path(f"{name}.json")).write_text(json.dumps(config))
        sock = self.path(f"{name}.sock")
        child = self.start([*prefix, DAEMON_BIN, "--config", self.path(f"{name}.json"), "--socket", sock, "--state-dir",
                            state, "--catalogue", catalogue, "--runtime-domain", domain, "--log-level", "info"],
                           name)
        wait_for(lambda: unix_socket_open(sock) or child.proc.poll() is not None, 20, f"{name}'s socket")
        if child.proc.poll() is not None:
            raise AssertionError(f"{name} exited: {child.output()}")
        return Daemon(sock, child, self)


class Daemon:
    def __init__(self, socket_path: str, child: Child, workspace: Workspace) -> None:
        self.socket_path = socket_path
        self.child = child
        self.workspace = workspace

    def client(self) -> "Client":
        client = Client(self.socket_path)
        self.workspace.addCleanup(client.close)
        return client


class Client:
    """One connection to a daemon's client socket: JSON lines, a greeting, requests and an inbox."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.buffer = b""
        self.inbox: list[dict] = []
        greeting = self.next(lambda m: m.get("type") == "create", 5)
        self.url = greeting["body"]["value"]["clientURL"]
        self.runtime_url = greeting["body"]["value"]["runtimeURL"]
        self.ids = 0

    def close(self) -> None:
        self.selector.close()
        self.sock.close()

    def write(self, msg: dict) -> None:
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def _read(self, timeout: float) -> None:
        if self.selector.select(timeout):
            data = self.sock.recv(1 << 16)
            if not data:
                raise AssertionError("the daemon closed the client connection")
            self.buffer += data
            *lines, self.buffer = self.buffer.split(b"\n")
            self.inbox += [json.loads(line) for line in lines if line.strip()]

    def next(self, predicate: Callable[[dict], bool], timeout: float = 10) -> dict:
        """The first message (received or yet to come) that matches, taken out of the inbox."""
        deadline = time.monotonic() + timeout
        while True:
            for index, msg in enumerate(self.inbox):
                if predicate(msg):
                    return self.inbox.pop(index)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout} s; inbox: {self.inbox}")
            self._read(left)

    def request(self, msg: dict, timeout: float = 20) -> dict:
        """Send ``msg`` with a fresh id; return its final response."""
        self.ids += 1
        msg = dict(msg, id=f"{self.url.rsplit('/', 1)[1]}-{self.ids}")
        self.write(msg)
        while True:
            response = self.next(lambda m: m.get("type") == "response" and m.get("id") == msg["id"], timeout)
            if response.get("body", {}).get("code", 200) >= 200:
                return response

    def listen(self, *addresses: str) -> dict:
        response = self.request({"type": "subscribe", "to": f"{self.runtime_url}/bus",
                                 "body": {"subscribe": list(addresses)}})
        assert response["body"]["code"] == 200, response
        return response

    def send(self, frm: str, to: str, value: Any, kind: str = "create", **body: Any) -> dict:
        return self.request({"type": kind, "from": frm, "to": to, "body": dict(body, value=value)})

    def answer(self, msg: dict, code: int = 200, value: Any = None) -> None:
        body: dict = {"code": code}
        if value is not None:
            body["value"] = value
        self.write({"id": msg["id"], "type": "response", "from": msg["to"], "to": msg["from"], "body": body})

    def barrier(self) -> None:
        """A round trip through the daemon (a registry read) and whatever it had already read from this
        connection: once answered, what the daemon did with the earlier lines, a write to another connection
        included, is done, and what it wrote to that one is in its socket (read it with ``take_available``)."""
        self.request({"type": "read", "to": f"{self.runtime_url}/registry"})

    def take_available(self) -> None:
        """Reads what is already in the socket, without waiting for more."""
        while self.selector.select(0):
            before = len(self.buffer) + len(self.inbox)
            self._read(0)
            if len(self.buffer) + len(self.inbox) == before:
                return

    def take_final_responses(self, ids: set[str], into: dict[str, list[dict]], timeout: float = 0) -> None:
        """Moves the final responses to ``ids`` that arrived (reading for up to ``timeout``) from the inbox to
        ``into``, a list per id, so that a second answer to one request shows."""
        self._read(timeout)
        for message in [m for m in self.inbox if m.get("type") == "response" and m.get("id") in ids]:
            self.inbox.remove(message)
            if message.get("body", {}).get("code", 200) >= 200:
                into.setdefault(message["id"], []).append(message)

    def watch_status(self) -> None:
        self.listen(f"{self.runtime_url}/status")

    def status(self, domain: str, value: str, timeout: float = 10) -> dict:
        """The next status change of ``domain``'s stub to ``value``."""
        return self.next(lambda m: m.get("to") == f"{self.runtime_url}/status"
                         and m["body"].get("domain") == domain
                         and m["body"].get("value") == value, timeout)["body"]

    def stub(self, domain: str) -> dict | None:
        listing = self.request({"type": "read", "to": f"{self.runtime_url}/registry"})["body"]["value"]
        return next((s for s in listing if s["domain"] == domain), None)
