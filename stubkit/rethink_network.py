"""rethink_network: the stub kit's part for stubs that keep a session with a network.

``NetworkStub`` reports status honestly (``live`` only once the session is up, ``disconnected`` with the
reason when it drops, ``failed`` when only the operator can help) and reconnects with exponential backoff
and jitter; ``InterworkingStub`` adds what every interworking stub answers without its protocol.
``StreamLink`` (TCP, optionally TLS) and ``DatagramLink`` (connected UDP) run on the stub's loop.
Separate from ``rethink_stub`` so that a stub without a network (the echo stub) does not pay for
compiling and importing it: the runtime starts Python stubs with ``-B``, without bytecode caches.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any, Callable

from rethink_stub import LOG_ERR, LOG_NOTICE, LOG_WARNING, OMIT, ProtoStub, Timer, body_of, domain_key

if TYPE_CHECKING:
    import socket
    import ssl

# socket, ssl, random and urllib are imported where first needed, so a stub pays only for what it uses.

__all__ = [
    "NetworkStub",
    "InterworkingStub",
    "StreamLink",
    "DatagramLink",
    "parse_servers",
    "tls_context",
]


def parse_servers(config: dict, default_port: int, default_host: str = "127.0.0.1") -> list[tuple[str, int]]:
    """The (host, port) pairs a descriptor's configuration names.

    ``servers``: a list of ``"host:port"`` or ``"scheme://host:port"`` strings (tried in turn on
    reconnect); else ``host`` and ``port``. Raises ValueError on a malformed entry.
    """
    entries = config.get("servers")
    if entries is None:
        entries = [f"{config.get('host', default_host)}:{config.get('port', default_port)}"]
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ValueError("configuration.servers must be a non-empty list of host:port strings")
    servers = []
    for entry in entries:
        text = str(entry).partition("://")[2] or str(entry)
        host, colon, port = text.rstrip("/").rpartition(":")
        if not colon:
            host, port = text.rstrip("/"), str(default_port)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"configuration: {entry!r} is not host:port")
        servers.append((host, int(port)))
    return servers


_WOULD_BLOCK: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
"""What a non-blocking send or recv raises when it must wait; TLS's own two are added once ssl is loaded."""


def _ssl() -> Any:
    global _WOULD_BLOCK
    import ssl
    if ssl.SSLWantReadError not in _WOULD_BLOCK:
        _WOULD_BLOCK = _WOULD_BLOCK + (ssl.SSLWantReadError, ssl.SSLWantWriteError)
    return ssl


def tls_context(setting: Any) -> ssl.SSLContext | None:
    """The TLS context a descriptor's ``configuration.tls`` asks for: absent or false, None (no TLS);
    true, the system's CAs; an object ``{"caPem": <PEM text>, "caFile": <PEM file>, "verify": true}``
    (``verify: false`` turns certificate checks off, for tests only). Raises ValueError on anything else.

    ``caPem`` wins over ``caFile``: a confined stub cannot open a file outside its package, so for a
    local catalogue the runtime reads ``caFile`` itself and passes its text as ``caPem``. ``caFile`` alone
    still works where the stub can read it (unconfined runs, unit tests)."""
    if setting is None or setting is False:
        return None
    if setting is True:
        setting = {}
    if not isinstance(setting, dict):
        raise ValueError("configuration.tls must be true, false or {\"caPem\": ..., \"caFile\": ..., \"verify\": ...}")
    ssl = _ssl()
    ca_pem, ca_file = setting.get("caPem"), setting.get("caFile")
    if ca_pem is not None:
        if not isinstance(ca_pem, str) or not ca_pem.strip():
            raise ValueError("configuration.tls.caPem must be the PEM text of one or more CA certificates")
        try:
            context = ssl.create_default_context(cadata=ca_pem)
        except ssl.SSLError as error:
            raise ValueError(f"configuration.tls.caPem is not a usable PEM CA certificate: {error}") from None
    elif ca_file is not None:
        if not isinstance(ca_file, str) or not ca_file:
            raise ValueError("configuration.tls.caFile must be the path of a PEM file")
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except PermissionError:
            raise ValueError(
                f"configuration.tls.caFile {ca_file!r} cannot be read by the stub: under the sandbox a stub "
                f"opens only its package, the stub kit and a few system files. For a local catalogue the runtime "
                f"passes the file's content as configuration.tls.caPem; otherwise put the certificate's PEM text "
                f"into configuration.tls.caPem, or the certificate into the package") from None
        except FileNotFoundError:
            raise ValueError(f"configuration.tls.caFile {ca_file!r} does not exist") from None
        except ssl.SSLError as error:
            raise ValueError(f"configuration.tls.caFile {ca_file!r} is not a usable PEM CA certificate: "
                             f"{error}") from None
    else:
        context = ssl.create_default_context()
    if setting.get("verify") is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Link:
    """What StreamLink and DatagramLink share: the peer, the callbacks, closing once."""

    def __init__(self, stub: "ProtoStub", host: str, port: int, on_connected: Callable[[], Any],
                 on_data: Callable[[bytes], Any], on_closed: Callable[[str], Any]) -> None:
        self.stub, self.host, self.port = stub, host, port
        self.on_connected, self.on_data, self.on_closed = on_connected, on_data, on_closed
        self.sock: socket.socket | None = None
        self.connected = False
        self._timer: Timer | None = None
        self._done = False

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Close without calling ``on_closed``."""
        self._done = True
        if self._timer:
            self._timer.cancel()
        if self.sock is not None:
            self.stub.remove_reader(self.sock)
            self.stub.remove_writer(self.sock)
            self.sock.close()
            self.sock = None
        self.connected = False

    def _closed(self, reason: str) -> None:
        if self._done:
            return
        self.close()
        self.on_closed(reason)


class StreamLink(_Link):
    """A non-blocking TCP connection driven by a stub's loop: connect with a timeout, optional TLS (at
    once, or later with ``start_tls`` for STARTTLS-style protocols), buffered writes, and callbacks for
    data and for the end of the connection (called once, with a reason)."""

    def __init__(self, stub: "ProtoStub", host: str, port: int, on_connected: Callable[[], Any],
                 on_data: Callable[[bytes], Any], on_closed: Callable[[str], Any],
                 connect_timeout: float = 5.0, tls: ssl.SSLContext | None = None,
                 server_name: str | None = None, on_refused: Callable[[str], Any] | None = None) -> None:
        super().__init__(stub, host, port, on_connected, on_data, on_closed)
        self.connect_timeout = connect_timeout
        self._out = bytearray()
        self.tls, self.server_name = tls, server_name or host
        self.on_refused = on_refused or on_closed
        self._handshake_done: Callable[[], Any] | None = None

    def open(self) -> None:
        """Start connecting; ``on_connected`` or ``on_closed`` follows from the loop."""
        import socket
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family, kind, proto, _, address = infos[0]
            self.sock = socket.socket(family, kind, proto)
            self.sock.setblocking(False)
            code = self.sock.connect_ex(address)
        except OSError as error:
            self.stub.call_later(0, self._closed, f"cannot connect to {self.name}: {error.strerror or error}")
            return
        if code not in (0, errno.EINPROGRESS):
            self.stub.call_later(0, self._closed, f"cannot connect to {self.name}: {os.strerror(code)}")
            return
        self.stub.add_writer(self.sock, self._connect_done)
        self._timer = self.stub.call_later(self.connect_timeout, self._closed,
                                           f"connecting to {self.name} timed out after {self.connect_timeout:g} s")

    def _connect_done(self) -> None:
        if self.sock is None:
            return
        import socket
        self.stub.remove_writer(self.sock)
        if self._timer:
            self._timer.cancel()
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._closed(f"cannot connect to {self.name}: {os.strerror(code)}")
            return
        self.connected = True
        if self.tls is not None:
            self.start_tls(self.tls, self.server_name, self.on_connected)
            return
        self.stub.add_reader(self.sock, self._readable)
        self.on_connected()
        self._flush()

    def start_tls(self, context: ssl.SSLContext, server_name: str, on_ready: Callable[[], Any]) -> None:
        """Run a TLS handshake on the connection, then call ``on_ready``; writes wait until then."""
        ssl = _ssl()
        if self.sock is None:
            return
        self.stub.remove_reader(self.sock)
        self.stub.remove_writer(self.sock)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_name, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError, ValueError) as error:
            self._closed(f"TLS with {self.name} failed: {error}")
            return
        self._handshake_done = on_ready
        self._timer = self.stub.call_later(self.connect_timeout, self._closed,
                                           f"TLS handshake with {self.name} timed out")
        self._handshake()

    def _handshake(self) -> None:
        ssl = _ssl()
        if self.sock is None:
            return
        try:
            self.sock.do_handshake()  # type: ignore[union-attr]
        except ssl.SSLWantReadError:
            self.stub.remove_writer(self.sock)
            self.stub.add_reader(self.sock, self._handshake)
            return
        except ssl.SSLWantWriteError:
            self.stub.remove_reader(self.sock)
            self.stub.add_writer(self.sock, self._handshake)
            return
        except ssl.SSLCertVerificationError as error:
            # not transient: the operator must fix the trust (configuration.tls) or the server's certificate
            self.close()
            self.on_refused(f"the TLS certificate of {self.name} is not trusted ({error.verify_message}); check "
                            f"configuration.tls (caPem or caFile, tlsServerName) or the server's certificate")
            return
        except (ssl.SSLError, OSError) as error:
            self._closed(f"TLS with {self.name} failed: {error}")
            return
        if self._timer:
            self._timer.cancel()
        on_ready, self._handshake_done = self._handshake_done, None
        self.stub.remove_writer(self.sock)
        self.stub.add_reader(self.sock, self._readable)
        if on_ready:
            on_ready()
        self._flush()

    def send(self, data: bytes) -> None:
        """Queue ``data`` and write what the socket takes now; the rest goes when it is writable."""
        if self.sock is None:
            return
        self._out += data
        if self.connected and self._handshake_done is None:
            self._flush()

    def _flush(self) -> None:
        if self.sock is None or self._handshake_done is not None:
            return
        try:
            while self._out:
                sent = self.sock.send(self._out)
                del self._out[:sent]
        except _WOULD_BLOCK:
            pass
        except OSError as error:
            self._closed(f"connection to {self.name} lost: {error.strerror or error}")
            return
        if self._out:
            self.stub.add_writer(self.sock, self._flush)
        else:
            self.stub.remove_writer(self.sock)

    def _readable(self) -> None:
        if self.sock is None:
            return
        while self.sock is not None:
            try:
                data = self.sock.recv(1 << 16)
            except _WOULD_BLOCK:
                return
            except OSError as error:
                self._closed(f"connection to {self.name} lost: {error.strerror or error}")
                return
            if not data:
                self._closed(f"{self.name} closed the connection")
                return
            self.on_data(data)
            # TLS may hold decrypted bytes the socket will not signal again
            pending = getattr(self.sock, "pending", None)
            if pending is None or not pending():
                return

class DatagramLink(_Link):
    """A connected UDP socket driven by a stub's loop, with StreamLink's interface: each ``on_data`` call is
    one datagram. There is no connection to lose: ``on_closed`` comes when the kernel reports the peer's
    port unreachable (ICMP, as ECONNREFUSED) or a send fails; protocols detect silence with timers.
    The sandbox allows it: ``connect`` binds the socket implicitly, no ``bind`` needed."""

    def __init__(self, stub: "ProtoStub", host: str, port: int, on_connected: Callable[[], Any],
                 on_data: Callable[[bytes], Any], on_closed: Callable[[str], Any]) -> None:
        super().__init__(stub, host, port, on_connected, on_data, on_closed)

    def open(self) -> None:
        import socket
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
            self.sock = socket.socket(family, kind, proto)
            self.sock.setblocking(False)
            self.sock.connect(address)
        except OSError as error:
            self.stub.call_later(0, self._closed, f"cannot reach {self.name}: {error.strerror or error}")
            return
        self.connected = True
        self.stub.add_reader(self.sock, self._readable)
        self.stub.call_later(0, self._opened)

    def _opened(self) -> None:
        if not self._done:
            self.on_connected()

    def send(self, data: bytes) -> None:
        if self.sock is None:
            return
        try:
            self.sock.send(data)
        except BlockingIOError:
            self.stub.log(f"UDP send buffer to {self.name} full: a datagram was dropped", LOG_WARNING)
        except OSError as error:
            self.stub.call_later(0, self._closed, f"{self.name} is unreachable: {error.strerror or error}")

    def _readable(self) -> None:
        while self.sock is not None:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._closed(f"{self.name} is unreachable: {error.strerror or error}")
                return
            self.on_data(data)


class NetworkStub(ProtoStub):
    """A stub that keeps one session with a network (a message node, a legacy server) and reports it
    honestly: ``in-progress`` while connecting, ``live`` once the session is really up (the subclass
    calls ``session_up()``), ``disconnected`` with the reason when it drops, then reconnects with
    exponential backoff and jitter, trying each configured server in turn; ``failed`` with a reason a
    user can act on when it must not retry (bad credentials: ``session_failed()``).

    Subclasses implement ``configure(config, identity)`` (raise ValueError for a bad descriptor),
    ``open_session(host, port)`` (start connecting, usually ``self.link = self.connect_tcp(...)``) and
    ``on_message``; ``on_session_lost(reason)`` is where they fail what was in flight.

    Requests waiting for a network answer are kept with ``expect(key, request, timeout)`` and answered
    with ``settle(key, ...)``; when the session drops, ``fail_expected`` answers all of them, so no
    request is ever dropped.
    """

    auto_live = False
    reconnect_initial = 0.2
    reconnect_max = 8.0
    protocol_name = "the network"

    def __init__(self, auto_live: bool | None = None) -> None:
        super().__init__(auto_live)
        self.servers: list[tuple[str, int]] = []
        self.link: StreamLink | DatagramLink | None = None
        self.tls: ssl.SSLContext | None = None
        self.tls_server_name: str | None = None
        self.up = False
        self.given_up = False
        self._attempt = 0
        self._server_index = 0
        self._reconnect_timer: Timer | None = None
        self._expected: dict[Any, tuple[dict, Timer | None]] = {}

    # hooks

    def configure(self, config: dict, identity: dict) -> None:
        """Read the configuration and the identity; raise ValueError to refuse the deployment."""

    def open_session(self, host: str, port: int) -> None:
        raise NotImplementedError

    def on_session_lost(self, reason: str) -> None:
        """The session ended (drop or failure): clean protocol state here."""

    # lifecycle

    def on_deploy(self, config: dict, identity: dict) -> None:
        reconnect = config.get("reconnect") if isinstance(config.get("reconnect"), dict) else {}
        self.reconnect_initial = float(reconnect.get("initialSeconds", self.reconnect_initial))
        self.reconnect_max = float(reconnect.get("maxSeconds", self.reconnect_max))
        self.tls = tls_context(config.get("tls"))
        self.tls_server_name = config.get("tlsServerName")
        self.configure(config, identity)
        self.call_later(0, self._connect)

    def on_undeploy(self) -> None:
        self.given_up = True
        self.fail_expected(503, "the protostub is being undeployed")
        self.close_link()

    def _connect(self) -> None:
        self._reconnect_timer = None
        if self.given_up:
            return
        host, port = self.servers[self._server_index % len(self.servers)]
        if self._attempt == 0:
            self.report_status("in-progress", f"connecting to {self.protocol_name} at {host}:{port}")
        self.log(f"connecting to {self.protocol_name} at {host}:{port}")
        self.open_session(host, port)

    def connect_tcp(self, host: str, port: int, on_connected: Callable[[], Any],
                    on_data: Callable[[bytes], Any], tls: ssl.SSLContext | None = None) -> StreamLink:
        """Open a StreamLink (over TLS when ``tls`` is given) whose loss calls ``session_lost``."""
        link = StreamLink(self, host, port, on_connected, on_data, self.session_lost, tls=tls,
                          server_name=self.tls_server_name or host, on_refused=self.session_failed)
        link.open()
        return link

    def connect_udp(self, host: str, port: int, on_connected: Callable[[], Any],
                    on_data: Callable[[bytes], Any]) -> DatagramLink:
        """Open a DatagramLink whose unreachable peer calls ``session_lost``."""
        link = DatagramLink(self, host, port, on_connected, on_data, self.session_lost)
        link.open()
        return link

    def close_link(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def session_up(self, desc: str | None = None) -> None:
        """The session is established: report ``live``."""
        self.up = True
        self._attempt = 0
        self.report_status("live", desc)
        self.log(f"live: {desc or self.protocol_name}", LOG_NOTICE)

    def session_lost(self, reason: str) -> None:
        """The session dropped or could not be opened: report ``disconnected`` and retry later."""
        if self.given_up:
            return
        was_up = self.up
        self.up = False
        self.close_link()
        self.on_session_lost(reason)
        self.fail_expected(503, f"{self.protocol_name} connection lost: {reason}")
        self._attempt += 1
        self._server_index += 1
        delay = min(self.reconnect_max, self.reconnect_initial * (2 ** min(self._attempt - 1, 16)))
        import random
        delay *= random.uniform(0.5, 1.0)
        if was_up or self._attempt == 1:
            self.report_status("disconnected", f"{reason}; reconnecting")
        self.log(f"{reason}; reconnecting in {delay:.2f} s", LOG_WARNING)
        if self._reconnect_timer is None:
            self._reconnect_timer = self.call_later(delay, self._connect)

    def session_failed(self, reason: str) -> None:
        """The session cannot work without the operator (bad credentials, refused): report ``failed``."""
        self.up = False
        self.given_up = True
        self.close_link()
        self.on_session_lost(reason)
        self.fail_expected(502, reason)
        self.report_status("failed", reason)
        self.log(reason, LOG_ERR)

    # requests waiting for the network

    def unavailable(self, msg: dict) -> None:
        """Answer a request that cannot go out now: 502 once failed, else 503 while reconnecting."""
        if self.given_up:
            self.respond(msg, 502, desc=f"{self.protocol_name} session failed; see the stub's status")
        else:
            self.respond(msg, 503, desc=f"not connected to {self.protocol_name} (reconnecting); try again")

    def expect(self, key: Any, request: dict, timeout: float | None = None, desc: str | None = None) -> None:
        """Keep ``request`` until ``settle(key, ...)``; after ``timeout`` seconds it is answered 504."""
        timer = None
        if timeout is not None:
            timer = self.call_later(timeout, self.settle, key, 504,
                                    OMIT, desc or f"no answer from {self.protocol_name} within {timeout:g} s")
        self._expected[key] = (request, timer)

    def expected(self, key: Any) -> dict | None:
        entry = self._expected.get(key)
        return entry[0] if entry else None

    def settle(self, key: Any, code: int, value: Any = OMIT, desc: str | None = None) -> dict | None:
        """Answer the request kept under ``key`` (if still there) and forget it; returns it."""
        entry = self._expected.pop(key, None)
        if entry is None:
            return None
        request, timer = entry
        if timer:
            timer.cancel()
        self.respond(request, code, value=value, desc=desc)
        return request

    def take_expected(self, key: Any) -> dict | None:
        """Forget the request kept under ``key`` without answering it (the caller answers); returns it."""
        entry = self._expected.pop(key, None)
        if entry is None:
            return None
        if entry[1]:
            entry[1].cancel()
        return entry[0]

    def fail_expected(self, code: int, desc: str) -> None:
        for key in list(self._expected):
            self.settle(key, code, desc=desc)


class InterworkingStub(NetworkStub):
    """A NetworkStub for a legacy network whose addresses are ``<scheme>://<host>/<target>`` (domain key
    ``<scheme>.<host>``). It sorts what the runtime routes to it:

    - responses go to ``on_runtime_response(msg)`` (answers to requests the stub emitted);
    - ``subscribe``/``unsubscribe`` to ``domain://msg-node.<key>/sm`` (the runtime asking to route
      addresses here, SPEC section 5) are checked and handed to ``on_listen(msg, kind, addresses,
      targets)``;
    - anything else needs a valid target (``target_of``, else 404) and a live session (else 503, 502
      once failed), then goes to ``on_legacy_message(msg, target, is_request)``.

    ``self.host`` is the legacy host and ``self.servers`` defaults to it on ``default_port``;
    ``self.listened`` holds the addresses the runtime listens on (the default ``on_listen``).
    """

    default_port = 0
    address_form = "<scheme>://<host>/<target>"
    identity_field = ""
    """The field of an identity that names the legacy user (``jid``, ``nick``, ...). A message whose
    ``body.identity`` names another user than the session's is answered 403: one stub holds one legacy
    session, the credential store's, and never speaks for someone else."""

    def on_deploy(self, config: dict, identity: dict) -> None:
        self.listened: set[str] = set()
        self.host = self.domain.partition(".")[2]
        self.servers = parse_servers(config, self.default_port, self.host)
        super().on_deploy(config, identity)

    def target_of(self, address: Any) -> str | None:
        """The percent-decoded path of an address of this network (without the leading ``/``), or None."""
        if not isinstance(address, str) or domain_key(address) != self.domain:
            return None
        from urllib.parse import unquote
        target = unquote(address.partition("://")[2].partition("/")[2])
        return target if target and not any(c in target for c in " <>\r\n") else None

    def on_runtime_response(self, msg: dict) -> None:
        """A response to a request this stub emitted."""

    def on_listen(self, msg: dict, kind: str, addresses: list[str], targets: list[str]) -> None:
        """The runtime listens (``subscribe``) or stops (``unsubscribe``) on ``addresses``."""
        for address in addresses:
            (self.listened.add if kind == "subscribe" else self.listened.discard)(address)
        self.respond(msg, 200, desc=f"{kind}d", value=addresses)

    def on_legacy_message(self, msg: dict, target: str, is_request: bool) -> None:
        raise NotImplementedError

    def on_message(self, msg: dict) -> None:
        kind, to = msg.get("type"), msg.get("to")
        if kind == "response":
            self.on_runtime_response(msg)
            return
        if kind in ("subscribe", "unsubscribe") and str(to).startswith("domain://"):
            addresses = body_of(msg).get(kind)
            addresses = [addresses] if isinstance(addresses, str) else addresses
            targets = [self.target_of(a) for a in addresses] if isinstance(addresses, list) else []
            if not targets or None in targets:
                self.respond(msg, 400, desc=f"body.{kind} must list addresses of the form {self.address_form}")
                return
            self.on_listen(msg, kind, addresses, targets)
            return
        is_request = msg.get("id") is not None
        claimed = body_of(msg).get("identity")
        if isinstance(claimed, dict) and self.identity_field in claimed \
                and claimed[self.identity_field] != self.identity.get(self.identity_field):
            if is_request:
                self.respond(msg, 403, desc=f"this stub's session is {self.identity_field} "
                                            f"{self.identity.get(self.identity_field)!r}, not "
                                            f"{claimed[self.identity_field]!r}: one legacy identity per stub, from "
                                            f"{self.domain}.json in the runtime's credentialsDirectories")
            return
        target = self.target_of(to)
        if target is None:
            if is_request:
                self.respond(msg, 404, desc=f"{to} is not an address of the form {self.address_form}")
            return
        if not self.up:
            if is_request:
                self.unavailable(msg)
            else:
                self.log(f"not connected: dropped a {kind} without id to {to}", LOG_WARNING)
            return
        self.on_legacy_message(msg, target, is_request)
