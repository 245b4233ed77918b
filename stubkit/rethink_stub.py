"""rethink_stub: the Python kit for rethink-runtimed protostubs.

A protostub is a process the runtime spawns in a sandbox. It talks to the runtime over its
stdin and stdout (the MiniBUS), one JSON message per line, and logs on stderr, one line per
record, each optionally prefixed with a syslog priority ``<N>`` (sd-daemon(3) form).

This module does the MiniBUS part so that a stub author only writes the protocol logic::

    import sys
    from rethink_stub import ProtoStub

    class Echo(ProtoStub):
        def on_message(self, msg):
            if msg.get("id") is not None and msg["type"] != "response":
                self.respond(msg, 200, value=(msg.get("body") or {}).get("value"))

    sys.exit(Echo().run())

What the kit does for you:

- framing: reads lines from stdin, skips blank lines, logs and skips lines that are not a
  JSON object, lowercases ``type``; writes each message as one line and flushes it;
- the deploy handshake: the first message (``create`` to ``hyperty-runtime://sandbox/internal``)
  calls ``on_deploy(config, identity)`` and answers 200, or 500 with the exception as ``desc``;
  then reports status ``created`` (and, with ``auto_live``, ``in-progress`` and ``live``);
- undeploy: a ``delete`` to ``hyperty-runtime://sandbox/internal`` or the end of stdin calls
  ``on_undeploy()`` once and makes ``run()`` return 0;
- an event loop: ``add_reader(sock, callback)`` and ``call_later(delay, fn)`` let a network
  stub wait on its sockets and timers together with the MiniBUS, in one thread;
- ``print()`` goes to stderr (the log), so a stray print cannot corrupt the MiniBUS.

Nothing here needs more than the standard library of Python 3.11, a fork, or a thread. Stubs that keep
a session with a network build on ``rethink_network`` (NetworkStub, InterworkingStub), beside this file.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import selectors
import sys
import time
import traceback
from typing import Any, Callable

__all__ = [
    "ProtoStub",
    "Timer",
    "domain_key",
    "body_of",
    "text_of",
    "OMIT",
    "SANDBOX_EXTERNAL",
    "SANDBOX_INTERNAL",
    "LOG_ERR",
    "LOG_WARNING",
    "LOG_NOTICE",
    "LOG_INFO",
    "LOG_DEBUG",
]

SANDBOX_EXTERNAL = "hyperty-runtime://sandbox/external"
"""The runtime's end of the MiniBUS: ``from`` of the deploy and undeploy messages."""
SANDBOX_INTERNAL = "hyperty-runtime://sandbox/internal"
"""The stub's end of the MiniBUS: ``to`` of the deploy and undeploy messages."""

LOG_ERR = 3
LOG_WARNING = 4
LOG_NOTICE = 5
LOG_INFO = 6
LOG_DEBUG = 7


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Default of ``respond(value=...)``: leave ``value`` out of the body (``None`` sends null)."""

_READ_SIZE = 1 << 16
_STDIN = 0
_STDOUT = 1
_STDERR = 2


class Timer:
    """A pending ``call_later`` callback; ``cancel()`` stops it from running."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Stop(Exception):
    """Raised inside the loop to end ``run()`` with an exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class ProtoStub:
    """Base class of a protostub. Override the ``on_*`` hooks, then call ``run()``.

    Attributes available once deployed: ``url`` (this stub's URL), ``config`` (the
    descriptor's configuration plus ``runtimeURL``), ``identity`` (credentials for the
    domain, or ``{}``), ``runtime_url`` and ``domain``.

    ``auto_live`` (class attribute or constructor argument): report ``in-progress`` and
    ``live`` right after a successful ``on_deploy``. Stubs that connect to a network set
    it to False and call ``report_status("live")`` once connected.
    """

    auto_live: bool = True

    def __init__(self, auto_live: bool | None = None) -> None:
        if auto_live is not None:
            self.auto_live = auto_live
        self.url: str = os.environ.get("RETHINK_STUB_URL", "")
        self.runtime_url: str = os.environ.get("RETHINK_RUNTIME_URL", "")
        self.domain: str = os.environ.get("RETHINK_DOMAIN", "")
        self.config: dict = {}
        self.identity: dict = {}
        self.deployed = False
        # Address prefixes that are multi-party here (a channel, a topic): declared with every status report,
        # so that the runtime sends what its clients write there to the network and to each local listener.
        self.multi_party: list[str] = []
        # Multi-party prefixes whose network delivers a message back to this runtime's subscribers itself (an
        # MQTT broker): the runtime then sends a local client's message there to the stub only, no copies.
        self.echoed: list[str] = []
        self.selector = self._make_selector()
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = itertools.count()
        self._inbuf = bytearray()
        self._undeployed = False
        self._status: int | None = None

    # MARK: hooks for the author

    def on_deploy(self, config: dict, identity: dict) -> None:
        """Called with the deploy message's ``body.config`` and ``body.identity``.

        Raise to refuse the deployment: the runtime gets code 500 with the exception text
        as ``desc`` and marks the stub ``deployment-failed``.
        """

    def on_message(self, msg: dict) -> None:
        """Called for every message the runtime routes to this stub (``type`` lowercased).

        Responses to requests this stub emitted arrive here too. If this raises while
        handling a request, the kit logs the traceback and answers it 500.
        """

    def on_undeploy(self) -> None:
        """Called once, if deployed, when the runtime undeploys the stub or closes its stdin."""

    # MARK: writing to the runtime

    def send(self, msg: dict) -> None:
        """Write one message to the runtime, as is, and flush it."""
        line = json.dumps(msg, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(_STDOUT, view):]
        except BrokenPipeError:
            self.log("the runtime closed the MiniBUS (stdout); exiting", LOG_WARNING)
            raise _Stop(0) from None

    def respond(self, req: dict, code: int, value: Any = OMIT, desc: str | None = None) -> None:
        """Answer the request ``req``: same ``id``, ``from``/``to`` swapped.

        ``value`` is left out unless given (``None`` is sent as null).
        """
        if req.get("id") is None:
            self.log(f"cannot respond {code} to a message without an id (type {req.get('type')!r})", LOG_WARNING)
            return
        body: dict[str, Any] = {"code": code}
        if desc is not None:
            body["desc"] = desc
        if value is not OMIT:
            body["value"] = value
        self.send({"id": req["id"], "type": "response", "from": req.get("to"), "to": req.get("from"), "body": body})

    def report_status(self, value: str, desc: str | None = None) -> None:
        """Report this stub's status: ``created``, ``in-progress``, ``live``, ``failed`` or
        ``disconnected`` (the last two with a ``desc`` saying why)."""
        body: dict[str, Any] = {"value": value}
        if desc is not None:
            body["desc"] = desc
        if self.multi_party:
            body["multiParty"] = list(self.multi_party)
        if self.echoed:
            body["echoed"] = list(self.echoed)
        self.send({"type": "update", "from": self.url, "to": self.url + "/status", "body": body})

    def log(self, text: str, priority: int = LOG_INFO) -> None:
        """Write ``text`` to the journal (stderr), each line prefixed with ``<priority>``
        (3 error, 4 warning, 5 notice, 6 info, 7 debug)."""
        prefix = f"<{min(max(int(priority), 0), 7)}>"
        lines = str(text).splitlines() or [""]
        data = "".join(prefix + line + "\n" for line in lines).encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(_STDERR, data):]
        except OSError:
            pass

    # MARK: the event loop

    def add_reader(self, fileobj: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fileobj`` (a socket or fd) is readable."""
        self._watch(fileobj, selectors.EVENT_READ, (callback, args))

    def remove_reader(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` for reading; call it before closing the socket."""
        self._watch(fileobj, selectors.EVENT_READ, None)

    def add_writer(self, fileobj: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fileobj`` is writable (a connect finished, a send buffer drained)."""
        self._watch(fileobj, selectors.EVENT_WRITE, (callback, args))

    def remove_writer(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` for writing."""
        self._watch(fileobj, selectors.EVENT_WRITE, None)

    def _watch(self, fileobj: Any, event: int, handler: tuple | None) -> None:
        try:
            key = self.selector.get_key(fileobj)
            handlers = dict(key.data)
        except (KeyError, ValueError):
            key, handlers = None, {}
        if handler is None:
            handlers.pop(event, None)
        else:
            handlers[event] = handler
        mask = 0
        for bit in handlers:
            mask |= bit
        try:
            if key is None and mask:
                self.selector.register(fileobj, mask, handlers)
            elif key is not None and mask:
                self.selector.modify(fileobj, mask, handlers)
            elif key is not None:
                self.selector.unregister(fileobj)
        except (KeyError, ValueError, OSError):
            pass

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` after ``delay`` seconds, from the loop. Returns a Timer."""
        timer = Timer(time.monotonic() + max(0.0, delay), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._timer_seq), timer))
        return timer

    def stop(self, status: int = 0) -> None:
        """End ``run()`` with exit status ``status`` once the current callback returns."""
        self._status = status

    def run(self) -> int:
        """Serve the MiniBUS until undeployed, stdin ends or ``stop()``; return the exit status.

        Use as ``sys.exit(MyStub().run())``.
        """
        sys.stdout = sys.stderr
        self.add_reader(_STDIN, self._read_stdin)
        try:
            while self._status is None:
                self._run_due_timers()
                if self._status is not None:
                    break
                for key, events in self.selector.select(self._next_timeout()):
                    for event in (selectors.EVENT_WRITE, selectors.EVENT_READ):
                        handler = key.data.get(event) if events & event else None
                        if handler is not None and self._status is None:
                            self._guarded(handler[0], *handler[1])
                    if self._status is not None:
                        break
        except _Stop as stop:
            self._status = stop.status
        return self._status or 0

    # MARK: internals

    @staticmethod
    def _make_selector() -> selectors.BaseSelector:
        # A sandbox may refuse epoll; poll is the smallest fallback.
        try:
            return selectors.DefaultSelector()
        except OSError:
            return selectors.PollSelector()

    def _next_timeout(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now and self._status is None:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._guarded(timer.callback, *timer.args)

    def _guarded(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            callback(*args)
        except _Stop:
            raise
        except Exception:
            self.log(f"callback {getattr(callback, '__qualname__', callback)!s} failed:", LOG_ERR)
            self.log(traceback.format_exc().rstrip(), LOG_ERR)

    def _read_stdin(self) -> None:
        data = os.read(_STDIN, _READ_SIZE)
        if not data:
            if self._inbuf.strip():
                self._handle_line(bytes(self._inbuf))
            self._inbuf.clear()
            self._undeploy("stdin closed")
            return
        self._inbuf += data
        start = 0
        while self._status is None:
            end = self._inbuf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._inbuf[start:end])
            start = end + 1
            if line.strip():
                self._handle_line(line)
        del self._inbuf[:start]

    def _handle_line(self, line: bytes) -> None:
        try:
            msg = json.loads(line, parse_constant=_reject_constant)
        except ValueError as error:
            preview = line[:200].decode("utf-8", "backslashreplace")
            self.log(f"skipping a MiniBUS line that is not JSON ({error}): {preview}", LOG_WARNING)
            return
        if not isinstance(msg, dict):
            self.log(f"skipping a MiniBUS line that is not a JSON object: {type(msg).__name__}", LOG_WARNING)
            return
        if isinstance(msg.get("type"), str):
            msg["type"] = msg["type"].lower()
        if msg.get("to") == SANDBOX_INTERNAL:
            self._handle_sandbox(msg)
        elif not self.deployed:
            self.log(f"message before the deploy message, answering 503: {msg.get('type')} to {msg.get('to')}",
                     LOG_WARNING)
            if msg.get("type") != "response":
                self.respond(msg, 503, desc="protostub not deployed yet")
        else:
            try:
                self.on_message(msg)
            except _Stop:
                raise
            except Exception as error:
                self.log(f"on_message failed for {msg.get('type')} {msg.get('id')!r} to {msg.get('to')}:", LOG_ERR)
                self.log(traceback.format_exc().rstrip(), LOG_ERR)
                if msg.get("type") != "response":
                    self.respond(msg, 500, desc=f"protostub error: {error!r}")

    def _handle_sandbox(self, msg: dict) -> None:
        kind = msg.get("type")
        body = msg.get("body") if isinstance(msg.get("body"), dict) else {}
        if kind == "create":
            self._deploy(msg, body)
        elif kind == "delete":
            self._undeploy("undeployed by the runtime")
        elif kind != "response":
            self.log(f"ignoring {kind} to {SANDBOX_INTERNAL}", LOG_WARNING)

    def _deploy(self, msg: dict, body: dict) -> None:
        if self.deployed:
            self.log("ignoring a second deploy message", LOG_WARNING)
            self.respond(msg, 409, desc="protostub already deployed")
            return
        if isinstance(body.get("url"), str) and body["url"]:
            self.url = body["url"]
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        identity = body.get("identity") if isinstance(body.get("identity"), dict) else {}
        self.config, self.identity = config, identity
        if isinstance(config.get("runtimeURL"), str):
            self.runtime_url = config["runtimeURL"]
        if not self.url:
            self.respond(msg, 500, desc="deploy message has no body.url and RETHINK_STUB_URL is unset")
            raise _Stop(1)
        try:
            self.on_deploy(config, identity)
        except _Stop:
            raise
        except Exception as error:
            self.log(f"on_deploy failed for {self.url}:", LOG_ERR)
            self.log(traceback.format_exc().rstrip(), LOG_ERR)
            self.respond(msg, 500, desc=f"on_deploy failed: {error!r}")
            return
        self.deployed = True
        self.respond(msg, 200)
        self.report_status("created")
        if self.auto_live:
            self.report_status("in-progress")
            self.report_status("live")

    def _undeploy(self, why: str) -> None:
        if not self._undeployed:
            self._undeployed = True
            self.log(f"{self.url or 'protostub'}: {why}", LOG_INFO)
            try:
                if self.deployed:
                    self.on_undeploy()
            except _Stop:
                raise
            except Exception:
                self.log("on_undeploy failed:", LOG_ERR)
                self.log(traceback.format_exc().rstrip(), LOG_ERR)
        self.stop(0)


# MARK: helpers for stubs


_RETHINK_SCHEMES = {"hyperty", "user", "domain", "hyperty-runtime", "runtime", "global", "comm", "context"}


def _is_dns_name(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        if any(not (c.isascii() and (c.isdigit() or c.islower() or c == "-")) for c in label):
            return False
    return True


def domain_key(address: Any) -> str | None:
    """The domain key of an address (SPEC section 3), as the runtime computes it.

    reTHINK schemes give the host without a leading ``msg-node.`` or ``registry.``; any other
    scheme is a legacy network, ``<scheme>.<host>``. None when the address has no valid key.
    """
    if not isinstance(address, str):
        return None
    scheme, sep, rest = address.partition("://")
    if not sep or not scheme:
        return None
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    host = authority.rpartition("@")[2]
    if ":" in host:
        host = host.rpartition(":")[0]
    host, scheme = host.lower(), scheme.lower()
    if scheme in _RETHINK_SCHEMES:
        for prefix in ("msg-node.", "registry."):
            if host.startswith(prefix) and len(host) > len(prefix):
                host = host[len(prefix):]
                break
        key = host
    else:
        key = f"{scheme}.{host}"
    return key if host and _is_dns_name(key) else None


def body_of(msg: dict) -> dict:
    """``msg["body"]`` when it is an object, else an empty dict."""
    body = msg.get("body")
    return body if isinstance(body, dict) else {}


def text_of(value: Any) -> str | None:
    """The text a message carries: ``body.value`` itself when a string, else its ``text``; None if neither."""
    if isinstance(value, dict):
        value = value.get("text")
    return value if isinstance(value, str) and value else None
