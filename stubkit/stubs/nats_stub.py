"""The reTHINK message-node protostub over NATS: the default stub for a reTHINK domain.

Runtimes on different hosts exchange messages through one NATS server or cluster. Each address
a local client listens on (the runtime asks with a ``subscribe`` to ``domain://msg-node.<domain>/sm``)
becomes a NATS subscription; a message for an address of the domain is published on that
address's subject, a request with a reply subject in this stub's inbox, and the answer comes
back there. Subject mapping and message flow: docs/stubs/nats.md.

Configuration (descriptor ``configuration``): ``servers`` (list of ``nats://host:port``, tried
in turn; the cluster's other nodes are learnt from the server), ``subjectPrefix`` (default
``rethink``), ``requestTimeoutSeconds`` (default 10), ``reconnect`` (``initialSeconds``,
``maxSeconds``). Credentials (``body.identity``, from the runtime's credential store):
``user`` and ``password``, or ``token``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from typing import Callable

from rethink_network import NetworkStub, parse_servers, tls_context
from rethink_stub import LOG_WARNING, body_of, domain_key

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_MAX_CONTROL_LINE = 4096


def address_token(address: str) -> str:
    """One NATS subject token for any address: bytes outside ``[A-Za-z0-9-]`` become ``_XX`` (hex).

    Reversible (``_`` itself is escaped), never contains ``.``, ``*``, ``>`` or white space.
    """
    return "".join(chr(b) if b in _SAFE else f"_{b:02X}" for b in address.encode("utf-8"))


def token_address(token: str) -> str:
    """The inverse of ``address_token``."""
    out = bytearray()
    index = 0
    while index < len(token):
        if token[index] == "_":
            out.append(int(token[index + 1:index + 3], 16))
            index += 3
        else:
            out.append(ord(token[index]))
            index += 1
    return out.decode("utf-8")


def is_final(msg: dict) -> bool:
    code = body_of(msg).get("code")
    return not isinstance(code, int) or code >= 200


class NatsStub(NetworkStub):
    protocol_name = "the NATS message node"

    def configure(self, config: dict, identity: dict) -> None:
        self.servers = parse_servers(config, 4222)
        self.prefix = str(config.get("subjectPrefix", "rethink"))
        if not self.prefix or any(c in self.prefix for c in " \t*>") or self.prefix.endswith("."):
            raise ValueError(f"configuration.subjectPrefix {self.prefix!r} is not a NATS subject prefix")
        self.request_timeout = float(config.get("requestTimeoutSeconds", 10))
        # A failover keeps the conversation: a request that comes while the connection is being renewed waits
        # (at most holdSeconds, at most holdLimit of them) and goes out once it is back; a "no responders" is
        # asked again for noResponderGraceSeconds, the time a far runtime takes to renew its subscriptions.
        self.hold_seconds = float(config.get("holdSeconds", min(self.request_timeout, 8)))
        self.hold_limit = int(config.get("holdLimit", 1000))
        self.no_responder_grace = float(config.get("noResponderGraceSeconds", 2))
        self.held: deque[tuple[dict, float]] = deque()  # requests waiting for the connection, with deadlines
        self.credentials = {k: identity[k] for k in ("user", "pass", "password", "token") if k in identity}
        if "password" in self.credentials:
            self.credentials["pass"] = self.credentials.pop("password")
        self.inbox = f"_INBOX.{os.urandom(11).hex()}"
        self.subscriptions: dict[str, int] = {}  # address -> sid
        self.next_sid = 2  # sid 1 is the inbox
        self.next_request = 0
        self.inbound: dict[tuple[str, str], str] = {}  # (from, id) of a request from NATS -> its reply subject
        self.max_payload = 1 << 20
        self.buffer = bytearray()
        self.handshake = "info"
        self.pongs: deque[Callable[[], None]] = deque()  # what each outstanding PING confirms, in order
        self.unconfirmed: set[str] = set()  # keys of subscribe requests waiting for their PONG
        self.deadlines: dict[str, float] = {}  # request number -> when its answer is due
        self.no_responders: dict[str, float] = {}  # request number -> when it first found no responder

    def subject(self, address: str) -> str:
        return f"{self.prefix}.{self.domain}.{address_token(address)}"

    # MARK: the session

    def open_session(self, host: str, port: int) -> None:
        self.buffer.clear()
        self.pongs.clear()
        self.handshake = "info"
        self.link = self.connect_tcp(host, port, lambda: None, self.on_data)

    def on_session_lost(self, reason: str) -> None:
        self.buffer.clear()
        self.pongs.clear()
        for key in self.unconfirmed if not self.given_up else ():  # renewed with the connection
            self.settle(key, 200, desc="subscribed when the connection to NATS is back")
        self.unconfirmed.clear()

    def ping(self, then: Callable[[], None]) -> None:
        """PING the server; ``then`` runs on its PONG, once everything written before was processed."""
        self.pongs.append(then)
        self.write(b"PING\r\n")

    def write(self, data: bytes) -> None:
        if self.link is not None:
            self.link.send(data)

    def on_data(self, data: bytes) -> None:
        self.buffer += data
        while self.link is not None:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_CONTROL_LINE + self.max_payload + 2:
                    self.session_lost("the NATS server sent an over-long line")
                return
            line = bytes(self.buffer[:end]).decode("utf-8", "replace")
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            if verb in ("MSG", "HMSG"):
                args = rest.split()
                size = int(args[-1])
                if len(self.buffer) < end + 2 + size + 2:
                    return
                payload = bytes(self.buffer[end + 2:end + 2 + size])
                del self.buffer[:end + 2 + size + 2]
                self.on_nats_message(verb, args, payload)
                continue
            del self.buffer[:end + 2]
            self.on_control(verb, rest)

    def on_control(self, verb: str, rest: str) -> None:
        if verb == "PING":
            self.write(b"PONG\r\n")
        elif verb == "PONG":
            if self.pongs:
                self.pongs.popleft()()
        elif verb == "INFO":
            self.on_info(json.loads(rest or "{}"))
        elif verb == "-ERR":
            reason = rest.strip().strip("'")
            if "authorization" in reason.lower() or "authentication" in reason.lower():
                user = self.credentials.get("user") or ("a token" if "token" in self.credentials else "no credentials")
                self.session_failed(
                    f"the NATS server refused the credentials ({user}): {reason}; fix the credentials file "
                    f"{self.domain}.json in the runtime's credentialsDirectories and redeploy the stub")
            else:
                self.log(f"NATS error: {reason}", LOG_WARNING)

    def on_info(self, info: dict) -> None:
        self.max_payload = int(info.get("max_payload", self.max_payload))
        for url in info.get("connect_urls") or []:
            for server in parse_servers({"servers": [url]}, 4222):
                if server not in self.servers:
                    self.servers.append(server)
                    self.log(f"learnt cluster node {server[0]}:{server[1]}")
        if self.handshake != "info":
            return
        if (info.get("tls_required") or self.tls is not None) and self.link is not None:
            if not (info.get("tls_required") or info.get("tls_available")):
                self.session_failed(f"the NATS server at {self.link.name} does not offer TLS, which "
                                    f"configuration.tls asks for")
                return
            self.handshake = "tls"
            self.link.start_tls(self.tls or tls_context(True), self.tls_server_name or self.link.host,
                                lambda: self.send_connect(info))
            return
        self.send_connect(info)

    def send_connect(self, info: dict) -> None:
        options = {"verbose": False, "pedantic": False, "lang": "python-rethink", "version": "1.0",
                   "name": self.url, "protocol": 1, "headers": True, "no_responders": True, "echo": False}
        if info.get("auth_required") or self.credentials:
            options.update(self.credentials)
        commands = [f"CONNECT {json.dumps(options, separators=(',', ':'))}\r\n", f"SUB {self.inbox}.* 1\r\n"]
        commands += [f"SUB {self.subject(address)} {sid}\r\n" for address, sid in self.subscriptions.items()]
        self.handshake = "pong"
        self.write("".join(commands).encode("utf-8"))
        self.ping(lambda: self.session_up(f"connected to NATS at {self.link.name if self.link else '?'}"))

    def publish(self, subject: str, msg: dict, reply: str | None = None) -> bool:
        payload = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(payload) > self.max_payload:
            return False
        head = f"PUB {subject} {reply + ' ' if reply else ''}{len(payload)}\r\n".encode("utf-8")
        self.write(head + payload + b"\r\n")
        return True

    # MARK: from the runtime

    def on_message(self, msg: dict) -> None:
        kind, to = msg.get("type"), msg.get("to")
        if kind == "response":
            self.answer_inbound(msg)
        elif kind in ("subscribe", "unsubscribe") and domain_key(to) == self.domain and str(to).endswith("/sm"):
            self.route_here(msg, kind)
        else:
            self.forward(msg)

    def route_here(self, msg: dict, kind: str) -> None:
        """The runtime listens (or stops) on addresses: (un)subscribe their subjects."""
        addresses = body_of(msg).get(kind)
        addresses = [addresses] if isinstance(addresses, str) else addresses
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses) or not addresses:
            self.respond(msg, 400, desc=f"body.{kind} must be a non-empty list of addresses")
            return
        foreign = [a for a in addresses if domain_key(a) != self.domain]
        if foreign:
            self.respond(msg, 403, desc=f"this message node carries addresses of {self.domain} only: {foreign}")
            return
        for address in addresses:
            if kind == "subscribe" and address not in self.subscriptions:
                self.subscriptions[address] = sid = self.next_sid
                self.next_sid += 1
                if self.up:
                    self.write(f"SUB {self.subject(address)} {sid}\r\n".encode("utf-8"))
            elif kind == "unsubscribe" and address in self.subscriptions:
                sid = self.subscriptions.pop(address)
                if self.up:
                    self.write(f"UNSUB {sid}\r\n".encode("utf-8"))
        if not self.up:
            self.respond(msg, 200, desc=f"{kind} applied when the connection to NATS is back", value=addresses)
            return
        # answered once the server has processed it: then messages for these addresses reach this runtime
        self.next_request += 1
        key = f"sub-{self.next_request}"
        self.expect(key, msg, self.request_timeout)
        self.unconfirmed.add(key)
        self.ping(lambda: (self.unconfirmed.discard(key),
                           self.settle(key, 200, value=addresses, desc=f"{kind}d at the message node")))

    def forward(self, msg: dict) -> None:
        """A message for an address of the domain: publish it on the address's subject."""
        request = msg.get("id") is not None
        to = msg.get("to")
        if not isinstance(to, str) or domain_key(to) != self.domain:
            if request:
                self.respond(msg, 404, desc=f"{to} is not an address of {self.domain}")
            return
        if not self.up:
            if request:
                self.hold(msg)
            else:
                self.log(f"not connected: dropped a {msg.get('type')} without id to {to}", LOG_WARNING)
            return
        self.publish_request(msg, time.monotonic() + self.request_timeout)

    def publish_request(self, msg: dict, deadline: float) -> None:
        """Publishes ``msg`` on its address's subject; a request is kept until its answer or ``deadline``."""
        request = msg.get("id") is not None
        to = msg["to"]
        subject = self.subject(to)
        if len(subject) > _MAX_CONTROL_LINE - 200:
            if request:
                self.respond(msg, 414, desc="address too long for a NATS subject")
            return
        reply = None
        if request:
            self.next_request += 1
            reply = f"{self.inbox}.{self.next_request}"
        if not self.publish(subject, msg, reply):
            if request:
                self.respond(msg, 413, desc=f"message larger than the NATS server's max_payload ({self.max_payload})")
            return
        if request:
            self.expect(str(self.next_request), msg, max(0.0, deadline - time.monotonic()),
                        f"no answer through NATS from {to} within {self.request_timeout:g} s")
            self.deadlines[str(self.next_request)] = deadline
            if len(self.deadlines) > 2 * len(self._expected) + 1000:  # answered by a timeout or a lost session
                self.deadlines = {k: v for k, v in self.deadlines.items() if k in self._expected}
                self.no_responders = {k: v for k, v in self.no_responders.items() if k in self._expected}

    # MARK: a failover

    def hold(self, msg: dict) -> None:
        """Keeps a request that came while the connection is down, to publish it when it is back."""
        if self.given_up:
            self.unavailable(msg)
            return
        if len(self.held) >= self.hold_limit:
            self.respond(msg, 503, desc=f"not connected to NATS (reconnecting) and {self.hold_limit} requests "
                                        f"already wait for it; try again")
            return
        deadline = time.monotonic() + self.hold_seconds
        self.held.append((msg, deadline))
        self.call_later(self.hold_seconds, self.expire_held)

    def expire_held(self) -> None:
        now = time.monotonic()
        while self.held and self.held[0][1] <= now:
            msg, _ = self.held.popleft()
            self.respond(msg, 503, desc=f"not connected to NATS for {self.hold_seconds:g} s (reconnecting); "
                                        f"try again")

    def release_held(self) -> None:
        """The connection is back: what waited goes out, in the order it came."""
        while self.held and self.up:
            msg, deadline = self.held.popleft()
            self.publish_request(msg, deadline - self.hold_seconds + self.request_timeout)

    def session_up(self, desc: str | None = None) -> None:
        super().session_up(desc)
        self.release_held()

    def on_undeploy(self) -> None:
        while self.held:
            msg, _ = self.held.popleft()
            self.respond(msg, 503, desc="the message node stub is being undeployed")
        super().on_undeploy()

    def answer_inbound(self, msg: dict) -> None:
        """A response from the runtime to a request that came in over NATS: publish it to its reply subject."""
        key = (str(msg.get("to")), json.dumps(msg.get("id")))
        reply = self.inbound.get(key)
        if reply is None:
            self.log(f"response to {msg.get('to')} id {msg.get('id')!r} matches no request from NATS; dropped",
                     LOG_WARNING)
            return
        if is_final(msg):
            del self.inbound[key]
        if not self.up or not self.publish(reply, msg):
            self.log(f"could not send the response to {msg.get('to')} id {msg.get('id')!r} back over NATS",
                     LOG_WARNING)

    # MARK: from NATS

    def on_nats_message(self, verb: str, args: list[str], payload: bytes) -> None:
        subject = args[0]
        reply = args[2] if (verb == "MSG" and len(args) == 4) or (verb == "HMSG" and len(args) == 5) else None
        status = ""
        if verb == "HMSG":
            header_size = int(args[-2])
            status = payload[:header_size].split(b"\r\n", 1)[0].decode("latin-1")
            payload = payload[header_size:]
        if subject.startswith(self.inbox + "."):
            self.on_reply(subject[len(self.inbox) + 1:], status, payload)
        else:
            self.on_request(subject, reply, payload)

    def on_reply(self, number: str, status: str, payload: bytes) -> None:
        request = self.expected(number)
        if request is None:
            return
        if status.startswith("NATS/1.0 503"):
            # Nobody subscribes to the address right now. A runtime that listens there and is renewing its
            # connection subscribes again within moments: ask again for a while before saying 404.
            first = self.no_responders.setdefault(number, time.monotonic())
            deadline = self.deadlines.get(number, 0)
            if time.monotonic() - first < self.no_responder_grace and time.monotonic() + 0.2 < deadline:
                self.call_later(0.1, self.ask_again, number)
                return
            self.no_responders.pop(number, None)
            self.settle(number, 404, desc=f"no runtime listens on {request.get('to')} at the message node")
            return
        self.no_responders.pop(number, None)
        self.deadlines.pop(number, None)
        try:
            answer = json.loads(payload)
            body = body_of(answer)
        except ValueError:
            self.settle(number, 502, desc="the answer through NATS was not JSON")
            return
        response = {"id": request.get("id"), "type": "response", "from": request.get("to"),
                    "to": request.get("from"), "body": body}
        if is_final(answer):
            self.take_expected(number)
        self.send(response)

    def ask_again(self, number: str) -> None:
        """Publishes a request that found no responder once more, under the same reply subject."""
        request = self.expected(number)
        if request is None or not self.up:
            return
        self.publish(self.subject(request["to"]), request, f"{self.inbox}.{number}")

    def on_request(self, subject: str, reply: str | None, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            self.log(f"skipping a NATS message on {subject} that is not a JSON object", LOG_WARNING)
            return
        if isinstance(msg.get("type"), str):
            msg["type"] = msg["type"].lower()
        request = msg.get("id") is not None and msg.get("type") != "response"

        def refuse(code: int, desc: str) -> None:
            self.log(f"refused a message from NATS ({code}): {desc}", LOG_WARNING)
            if request and reply:
                self.publish(reply, {"id": msg.get("id"), "type": "response", "from": msg.get("to"),
                                     "to": msg.get("from"), "body": {"code": code, "desc": desc}})

        # An inbound delivery goes to an address of this domain, whatever its `from` (SPEC section 6: how
        # alice@acme reaches bob@beta through beta's node); the runtime checks the same rule again.
        if domain_key(msg.get("to")) != self.domain:
            refuse(403, f"the message node of {self.domain} only delivers to its own addresses, "
                        f"not to {msg.get('to')!r}")
            return
        if msg.get("to") not in self.subscriptions or msg.get("type") == "response":
            refuse(404, f"{msg.get('to')!r} is not routed to this runtime")
            return
        if request:
            key = (str(msg["from"]), json.dumps(msg["id"]))
            if key in self.inbound:
                refuse(400, f"a request with id {msg['id']!r} from {msg['from']} is still in flight")
                return
            if reply:
                self.inbound[key] = reply
        self.send(msg)


if __name__ == "__main__":
    sys.exit(NatsStub().run())
