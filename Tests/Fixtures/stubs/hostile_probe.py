"""A hostile protostub for the sandbox's attack tests: it goes live like any stub, then tries, on request,
what a stub from someone else's web site might try (SPEC section 9), and says whether it worked.

Request: an ``execute`` whose ``body`` is ``{"attack": NAME, "args": {...}}`` (``body.value`` holding the
same object is accepted too, as ``rethinkctl`` sends it). Answer: 200 with ``value``
``{"attack": NAME, "outcome": "refused" | "allowed" | "sent", "errno": "EACCES" | null, "detail": "..."}``.
``allowed`` means the attack worked: a breach. ``errno`` names the error of the refused step (``ETIMEDOUT``
for a timeout, ``EAI_*`` for a failed name lookup), null when there was none. A missing or malformed
argument or an unknown attack is answered 400, a probe that raises anything but OSError 500 with the
exception as ``desc`` (and ``outcome`` ``"error"``). Any other request is echoed like the echo stub.

Attacks (``args`` in parentheses; ``pid`` defaults to the parent, the daemon that spawned the stub):

- ``proc-mem`` (pid): ``open("/proc/<pid>/mem", O_RDWR)``, closed at once, nothing written; allowed if opened.
- ``proc-read`` (pid, file): read ``/proc/<pid>/<file>``; allowed if a byte could be read (detail: count and
  the first bytes, escaped).
- ``proc-fd`` (pid, fd): ``open("/proc/<pid>/fd/<fd>", O_WRONLY | O_NONBLOCK)``; allowed if opened.
- ``read-file`` (path): open and read; allowed if the read succeeded (detail: byte count).
- ``write-file`` (path, content, encoding ``"text"`` | ``"base64"``, makedirs): create or overwrite it with
  ``content``; allowed if every byte was written. For cache overwrite and pre-planting.
- ``list-dir`` (path): ``os.listdir``; allowed if it listed (detail: count and first names).
- ``open-exec`` (path): ``open(path, O_RDONLY)`` (no exec: it would replace the stub); allowed if opened.
- ``connect-tcp`` (host, port, timeout 2): TCP connect; allowed if connected.
- ``send-udp`` (host, port, payload ``"probe"``, expect_reply): ``sendto``; allowed if it returned and, with
  ``expect_reply``, a reply came within 1 s. ``connect-udp``: the same over ``connect`` then ``send``.
- ``unix-connect`` (path), ``abstract-connect`` (name): connect to a pathname or abstract
  (``"\\0" + name``) unix stream socket; allowed if connected.
- ``raw-socket``: ``socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)``, ``socket(AF_PACKET, SOCK_RAW, 0)``,
  ``socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL))``; allowed if any was made (detail: each one's result).
- ``signal`` (pid, signal 0): ``kill``; allowed if no error.
- ``threads`` (count 3000, stack_kib 256): start that many sleeping threads; allowed if all started
  (detail ``started N of M``).
- ``memory`` (mib 2048): allocate in 16 MiB bytearrays, touching every page; allowed if all was allocated.
  Freed afterwards. Under a cgroup memory limit the kernel may kill the stub instead: then no answer.
- ``disk`` (mib 600, path: a file in the working directory): write it in 1 MiB chunks; allowed if all
  was written. Removed afterwards.
- ``setuid-file`` (path: a file in the working directory): ``open(path, O_CREAT | O_WRONLY, 0o4755)``
  then ``fstat``; allowed if S_ISUID is set. Removed afterwards.
- ``dev`` (path): ``open(path, O_RDWR)`` (``/dev/kvm``, ``/dev/userfaultfd``, ``/dev/mem``); allowed if opened.
- ``renice`` (pid, nice 19): write it to ``/proc/<pid>/autogroup`` and ``setpriority(PRIO_PROCESS, pid)``;
  allowed if either worked. ``oom`` (pid, value 1000): write it to ``/proc/<pid>/oom_score_adj``.
- ``env``: allowed if the environment holds a name other than PATH, HOME, LANG, TMPDIR, PYTHON*,
  RETHINK_STUB_URL, RETHINK_RUNTIME_URL, RETHINK_DOMAIN (detail: those names, never their values).
- ``whoami``: ``refused``; detail is a JSON object string: uid, euid, gid, egid, groups, pid, ppid, cwd and
  from /proc/self/status CapEff, CapPrm, CapInh, CapBnd, CapAmb, NoNewPrivs, Seccomp, Seccomp_filters.
- ``subscribe`` (address, domain or to): emit ``{"type": "subscribe", "from": <stub URL>, "to":
  "domain://msg-node.<domain>/sm" or <to>, "body": {"subscribe": [address]}}``; outcome ``sent``.
  ``inject`` (message): emit ``message`` as is; outcome ``sent``. The daemon's side is for the test to check.

Every probe is meant to change nothing when it succeeds, except ``write-file`` (it writes what it is
told), ``signal`` with a non-zero signal, ``renice`` and ``oom``: use them against throwaway targets.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import socket
import stat
import sys
import threading
import time
from typing import Any, Callable

from rethink_stub import OMIT, ProtoStub, body_of

ALLOWED_ENVIRONMENT = {"PATH", "HOME", "LANG", "TMPDIR", "RETHINK_STUB_URL", "RETHINK_RUNTIME_URL",
                       "RETHINK_DOMAIN"}
MIB = 1 << 20
SOCK_PACKET = 10
ETH_P_ALL = 0x0003


class ProbeArgumentError(ValueError):
    """A request whose ``args`` the probe cannot use: answered 400."""


def outcome(attack: str, result: str, error: str | None, detail: str) -> dict:
    return {"attack": attack, "outcome": result, "errno": error, "detail": detail}


def errno_name(error: BaseException) -> str | None:
    """The symbolic name of an OSError's errno (``EACCES``); ``ETIMEDOUT`` for a socket timeout, the
    ``EAI_*`` name for a failed lookup."""
    if isinstance(error, socket.gaierror):
        names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
        return names.get(error.errno, f"EAI({error.errno})")
    code = getattr(error, "errno", None)
    if code is None:
        return "ETIMEDOUT" if isinstance(error, TimeoutError) else None
    return errno.errorcode.get(code, str(code))


def describe(error: OSError) -> str:
    text = error.strerror or str(error) or type(error).__name__
    return f"{error.filename}: {text}" if error.filename else text


class Probe:
    """The attacks, each a method taking ``args``; ``stub`` is what emits on the MiniBUS."""

    def __init__(self, stub: ProtoStub | None = None) -> None:
        self.stub = stub
        self.attacks: dict[str, Callable[[dict], dict]] = {
            "proc-mem": self.proc_mem, "proc-read": self.proc_read, "proc-fd": self.proc_fd,
            "read-file": self.read_file, "write-file": self.write_file, "list-dir": self.list_dir,
            "open-exec": self.open_exec, "connect-tcp": self.connect_tcp, "send-udp": self.send_udp,
            "connect-udp": self.connect_udp, "unix-connect": self.unix_connect,
            "abstract-connect": self.abstract_connect, "raw-socket": self.raw_socket, "signal": self.signal,
            "threads": self.threads, "memory": self.memory, "disk": self.disk, "setuid-file": self.setuid_file,
            "dev": self.dev, "renice": self.renice, "oom": self.oom, "env": self.env, "whoami": self.whoami,
            "subscribe": self.subscribe, "inject": self.inject,
        }

    def run(self, attack: str, args: dict) -> dict:
        """One attack: its outcome, OSError turned into ``refused`` with the errno. Raises KeyError for an
        unknown attack, ProbeArgumentError for bad ``args``; anything else the probe raises goes through."""
        self.attack = attack
        method = self.attacks[attack]
        try:
            return method(args)
        except OSError as error:
            return self.refused(error)

    # MARK: results and arguments

    def allowed(self, detail: str) -> dict:
        return outcome(self.attack, "allowed", None, detail)

    def refused(self, error: BaseException | None = None, detail: str | None = None) -> dict:
        name = errno_name(error) if error is not None else None
        if detail is None:
            detail = describe(error) if isinstance(error, OSError) else str(error or "")
        return outcome(self.attack, "refused", name, detail)

    @staticmethod
    def text(args: dict, key: str, default: str | None = None) -> str:
        value = args.get(key, default)
        if not isinstance(value, str) or not value:
            raise ProbeArgumentError(f"args.{key} must be a non-empty string")
        return value

    @staticmethod
    def number(args: dict, key: str, default: int | None = None) -> int:
        value = args.get(key, default)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProbeArgumentError(f"args.{key} must be an integer")
        return value

    def pid(self, args: dict) -> int:
        return self.number(args, "pid", os.getppid())

    def scratch_path(self, args: dict, kind: str) -> str:
        return self.text(args, "path", os.path.join(os.getcwd(), f"hostile-probe-{kind}-{os.getpid()}"))

    # MARK: /proc

    def proc_mem(self, args: dict) -> dict:
        path = f"/proc/{self.pid(args)}/mem"
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        return self.allowed(f"opened {path} read-write (closed, nothing written)")

    def proc_read(self, args: dict) -> dict:
        path = f"/proc/{self.pid(args)}/{self.text(args, 'file', 'environ')}"
        return self.read_path(path)

    def proc_fd(self, args: dict) -> dict:
        path = f"/proc/{self.pid(args)}/fd/{self.number(args, 'fd')}"
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC))
        return self.allowed(f"opened {path} for writing")

    # MARK: files

    def read_path(self, path: str, want_bytes: bool = True) -> dict:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        if want_bytes and not data:
            return self.refused(detail=f"opened {path} but read nothing")
        preview = data[:48].decode("ascii", "backslashreplace").replace("\x00", "\\0")
        return self.allowed(f"read {len(data)} bytes of {path}: {preview}")

    def read_file(self, args: dict) -> dict:
        return self.read_path(self.text(args, "path"), want_bytes=False)

    def write_file(self, args: dict) -> dict:
        path = self.text(args, "path")
        content = args.get("content", "probe")
        if not isinstance(content, str):
            raise ProbeArgumentError("args.content must be a string")
        data = base64.b64decode(content) if args.get("encoding") == "base64" else content.encode()
        if args.get("makedirs"):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOCTTY | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return self.allowed(f"wrote {len(data)} bytes to {path}")

    def list_dir(self, args: dict) -> dict:
        path = self.text(args, "path")
        names = sorted(os.listdir(path))
        return self.allowed(f"{len(names)} entries in {path}: {', '.join(names[:8])}"[:200])

    def open_exec(self, args: dict) -> dict:
        path = self.text(args, "path")
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        return self.allowed(f"opened {path} for reading (not executed)")

    def dev(self, args: dict) -> dict:
        path = self.text(args, "path")
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC))
        return self.allowed(f"opened {path} read-write")

    def setuid_file(self, args: dict) -> dict:
        path = self.scratch_path(args, "setuid")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL | os.O_CLOEXEC, 0o4755)
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
            os.unlink(path)
        if mode & stat.S_ISUID:
            return self.allowed(f"created {path} with mode {stat.S_IMODE(mode):o}")
        return self.refused(detail=f"created {path} without the setuid bit (mode {stat.S_IMODE(mode):o})")

    def disk(self, args: dict) -> dict:
        path, mib = self.scratch_path(args, "disk"), self.number(args, "mib", 600)
        chunk, written = b"\xa5" * MIB, 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            while written < mib * MIB:
                written += os.write(fd, chunk)
            os.fsync(fd)
        except OSError as error:
            return self.refused(error, f"wrote {written // MIB} of {mib} MiB to {path}: {describe(error)}")
        finally:
            os.close(fd)
            os.unlink(path)
        return self.allowed(f"wrote {mib} MiB to {path} (removed)")

    # MARK: network

    @staticmethod
    def address(args: dict, kind: int) -> tuple[int, Any]:
        host = Probe.text(args, "host")
        port = Probe.number(args, "port")
        family, _, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=kind)[0]
        return family, address

    def connect_tcp(self, args: dict) -> dict:
        family, address = self.address(args, socket.SOCK_STREAM)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(float(args.get("timeout", 2)))
            try:
                sock.connect(address)
            except OSError as error:
                return self.refused(error, f"TCP to {address[0]}:{address[1]}: {describe(error)}")
        return self.allowed(f"connected to {address[0]}:{address[1]} over TCP")

    def udp(self, args: dict, connected: bool) -> dict:
        family, address = self.address(args, socket.SOCK_DGRAM)
        payload = str(args.get("payload", "probe")).encode()
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                if connected:
                    sock.connect(address)
                    sock.send(payload)
                else:
                    sock.sendto(payload, address)
            except OSError as error:
                return self.refused(error, f"UDP to {address[0]}:{address[1]}: {describe(error)}")
            sent = f"sent {len(payload)} bytes to {address[0]}:{address[1]} over UDP"
            if not args.get("expect_reply"):
                return self.allowed(sent)
            sock.settimeout(1)
            try:
                reply = sock.recv(2048)
            except TimeoutError as error:
                return self.refused(error, f"{sent}, no reply within 1 s")
            except OSError as error:  # ECONNREFUSED: an ICMP port unreachable on a connected socket
                return self.refused(error, f"{sent}, no reply: {describe(error)}")
            return self.allowed(f"{sent}, got a {len(reply)}-byte reply")

    def send_udp(self, args: dict) -> dict:
        return self.udp(args, connected=False)

    def connect_udp(self, args: dict) -> dict:
        return self.udp(args, connected=True)

    def unix(self, address: str, shown: str) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            try:
                sock.connect(address)
            except OSError as error:
                return self.refused(error, f"{shown}: {describe(error)}")
        return self.allowed(f"connected to {shown}")

    def unix_connect(self, args: dict) -> dict:
        path = self.text(args, "path")
        return self.unix(path, path)

    def abstract_connect(self, args: dict) -> dict:
        name = self.text(args, "name")
        return self.unix("\0" + name, f"abstract socket @{name}")

    def raw_socket(self, args: dict) -> dict:
        kinds = [("inet-raw-icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                 ("packet-raw", getattr(socket, "AF_PACKET", 17), socket.SOCK_RAW, 0),
                 ("inet-sock-packet", socket.AF_INET, SOCK_PACKET, socket.htons(ETH_P_ALL))]
        made, results, first_error = [], [], None
        for name, family, kind, proto in kinds:
            try:
                socket.socket(family, kind, proto).close()
            except OSError as error:
                first_error = first_error or error
                results.append(f"{name} {errno_name(error)}")
                continue
            made.append(name)
            results.append(f"{name} made")
        if made:
            return self.allowed(", ".join(results))
        return self.refused(first_error, ", ".join(results))

    # MARK: processes and resources

    def signal(self, args: dict) -> dict:
        pid, number = self.pid(args), self.number(args, "signal", 0)
        os.kill(pid, number)
        return self.allowed(f"kill({pid}, {number}) succeeded")

    def renice(self, args: dict) -> dict:
        pid, nice = self.pid(args), self.number(args, "nice", 19)
        results, worked, first_error = [], False, None
        try:
            fd = os.open(f"/proc/{pid}/autogroup", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(nice).encode())
            finally:
                os.close(fd)
            worked = True
            results.append("autogroup written")
        except OSError as error:
            first_error = error
            results.append(f"autogroup {errno_name(error)}")
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
            worked = True
            results.append("setpriority succeeded")
        except OSError as error:
            first_error = first_error or error
            results.append(f"setpriority {errno_name(error)}")
        detail = f"nice {nice} for {pid}: " + ", ".join(results)
        return self.allowed(detail) if worked else self.refused(first_error, detail)

    def oom(self, args: dict) -> dict:
        pid, value = self.pid(args), self.number(args, "value", 1000)
        path = f"/proc/{pid}/oom_score_adj"
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
        return self.allowed(f"wrote {value} to {path}")

    def threads(self, args: dict) -> dict:
        count, stack_kib = self.number(args, "count", 3000), self.number(args, "stack_kib", 256)
        release, started, failure = threading.Event(), [], None
        previous = threading.stack_size(stack_kib * 1024)
        try:
            for _ in range(count):
                thread = threading.Thread(target=release.wait, daemon=True)
                try:
                    thread.start()
                except RuntimeError as error:  # "can't start new thread": pthread_create failed
                    failure = error
                    break
                started.append(thread)
        finally:
            threading.stack_size(previous)
            release.set()
            for thread in started:
                thread.join()
        detail = f"started {len(started)} of {count} threads"
        if failure is not None:
            return self.refused(detail=f"{detail}: {failure}")
        return self.allowed(detail)

    def memory(self, args: dict) -> dict:
        mib = self.number(args, "mib", 2048)
        blocks: list[bytearray] = []
        allocated = 0
        try:
            while allocated < mib:
                size = min(16, mib - allocated)
                block = bytearray(size * MIB)
                block[::4096] = b"\x01" * len(range(0, size * MIB, 4096))  # touch every page
                blocks.append(block)
                allocated += size
        except MemoryError:
            return outcome(self.attack, "refused", "ENOMEM", f"allocated {allocated} of {mib} MiB")
        finally:
            blocks.clear()
        return self.allowed(f"allocated and touched {mib} MiB (freed)")

    # MARK: what the stub can see of itself

    def env(self, args: dict) -> dict:
        extra = sorted(k for k in os.environ if k not in ALLOWED_ENVIRONMENT and not k.startswith("PYTHON"))
        if extra:
            return self.allowed("extra: " + ", ".join(extra))
        return self.refused(detail="only: " + ", ".join(sorted(os.environ)))

    def whoami(self, args: dict) -> dict:
        me: dict[str, Any] = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
                              "groups": os.getgroups(), "pid": os.getpid(), "ppid": os.getppid()}
        try:
            me["cwd"] = os.getcwd()
        except OSError as error:
            me["cwd"] = None
            me["cwdError"] = errno_name(error)
        wanted = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"}
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    key, _, value = line.partition(":")
                    if key in wanted:
                        me[key] = value.strip()
        except OSError as error:
            me["statusError"] = errno_name(error)
        return outcome(self.attack, "refused", None, json.dumps(me, sort_keys=True))

    # MARK: the bus

    def emit(self, message: Any) -> None:
        if self.stub is None:
            raise ProbeArgumentError("no MiniBUS to send on")
        self.stub.send(message)

    def subscribe(self, args: dict) -> dict:
        address = self.text(args, "address")
        to = args.get("to") or f"domain://msg-node.{self.text(args, 'domain')}/sm"
        url = self.stub.url if self.stub is not None else ""
        self.emit({"type": "subscribe", "from": url, "to": to, "body": {"subscribe": [address]}})
        return outcome(self.attack, "sent", None, f"subscribe {address} sent to {to}")

    def inject(self, args: dict) -> dict:
        message = args.get("message")
        if not isinstance(message, dict):
            raise ProbeArgumentError("args.message must be a message object")
        self.emit(message)
        return outcome(self.attack, "sent", None, f"{message.get('type')} to {message.get('to')} sent")


def parse_request(body: dict) -> tuple[str, dict] | None:
    """The (attack, args) of a request body, from ``body`` or ``body.value``; None when it names no attack.
    Raises ProbeArgumentError when ``attack`` or ``args`` has the wrong type."""
    for candidate in (body, body.get("value")):
        if isinstance(candidate, dict) and "attack" in candidate:
            attack, args = candidate["attack"], candidate.get("args", {})
            if not isinstance(attack, str):
                raise ProbeArgumentError("attack must be a string")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise ProbeArgumentError("args must be an object")
            return attack, args
    return None


class HostileProbe(ProtoStub):
    def __init__(self) -> None:
        super().__init__()
        self.probe = Probe(self)

    def answer(self, msg: dict) -> tuple[int, Any, str]:
        """(code, value, desc) for one request; value OMIT when a 400 has none."""
        body = body_of(msg)
        try:
            parsed = parse_request(body) if msg.get("type") == "execute" else None
        except ProbeArgumentError as error:
            return 400, OMIT, str(error)
        if parsed is None:
            return 200, body.get("value"), f"echo from {self.url}"
        attack, args = parsed
        if attack not in self.probe.attacks:
            return 400, OMIT, f"unknown attack {attack!r}; known: {', '.join(sorted(self.probe.attacks))}"
        started = time.monotonic()
        try:
            value = self.probe.run(attack, args)
        except ProbeArgumentError as error:
            return 400, OMIT, f"{attack}: {error}"
        except Exception as error:  # a probe that crashes still answers
            return 500, outcome(attack, "error", None, repr(error)[:200]), f"probe {attack} failed: {error!r}"
        return 200, value, f"{attack} in {time.monotonic() - started:.3f} s"

    def on_message(self, msg: dict) -> None:
        if msg.get("id") is None or msg.get("type") == "response":
            return
        code, value, desc = self.answer(msg)
        self.respond(msg, code, value=value, desc=desc)


if __name__ == "__main__":
    sys.exit(HostileProbe().run())
