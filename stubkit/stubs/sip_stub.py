"""IWStub for SIP (domain key ``sip.<host>``): REGISTER, MESSAGE and INVITE/BYE call signalling, no media.

``sip://<host>/<user>@<domain>`` is the SIP URI ``sip:<user>@<domain>`` as reached through the
proxy/registrar ``<host>``; the stub registers the identity's AOR ``sip:<user>@<host>`` (it is
``live`` only once the REGISTER succeeded) and ``sip://<host>/<user>@<host>`` is where a client
listens for what comes in. A request to an address sends a MESSAGE (``body.value`` text or
``{"text", "contentType"}``) or, with ``{"call": "invite"}``, an INVITE (provisional responses are
passed on as provisional reTHINK responses, the final 200 is ACKed and answered with the call id);
a ``delete`` with ``{"call": <call id>}`` sends the BYE. Inbound MESSAGE and INVITE become requests
to the own address whose reTHINK answer is the SIP answer. SIP over TCP (RFC 3261) with digest
authentication. Mapping: docs/stubs/sip.md.

Configuration: ``servers`` (default ``<host>:5060``), ``registerExpiresSeconds`` (300),
``requestTimeoutSeconds`` (32), ``reconnect``. Identity (credential store): ``user``, ``password``,
optional ``authUser`` and ``displayName``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from urllib.parse import quote

from rethink_network import InterworkingStub, tls_context
from rethink_stub import LOG_WARNING, Timer, body_of, text_of

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length", "m": "contact",
           "c": "content-type", "k": "supported"}
T1, T2, TIMEOUT = 0.5, 4.0, 32.0  # RFC 3261 timers: first retransmission, cap for non-INVITE, give up
REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           408: "Request Timeout", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
           486: "Busy Here", 500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
           603: "Decline"}


def random_token() -> str:
    return os.urandom(8).hex()


class SipMessage:
    def __init__(self, start: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.start, self.headers, self.body = start, headers, body
        parts = start.split(" ", 2)
        self.is_response = parts[0].startswith("SIP/")
        self.code = int(parts[1]) if self.is_response else 0
        self.reason = parts[2] if self.is_response and len(parts) > 2 else ""
        self.method = "" if self.is_response else parts[0]
        self.uri = "" if self.is_response else parts[1]

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k == name), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("cseq").partition(" ")
        return int(number or 0), method.strip()

    @property
    def branch(self) -> str:
        match = re.search(r";\s*branch=([^;,\s]+)", self.get("via"))
        return match.group(1) if match else ""


def parse_message(data: bytes, stream: bool) -> tuple[SipMessage, bytes] | None:
    """The first SIP message in ``data`` and what follows it, or None when it is not complete (a stream) or
    not a message (a datagram, whose body without Content-Length runs to its end)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("utf-8", "replace").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    declared = next((v for k, v in headers if k == "content-length"), None)
    length = int(declared or 0) if declared is not None or stream else len(data) - end - 4
    if len(data) < end + 4 + length or len(lines[0].split(" ", 2)) < 3:
        return None
    return SipMessage(lines[0], headers, data[end + 4:end + 4 + length]), data[end + 4 + length:]


def tag_of(header: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", header)
    return match.group(1) if match else ""


def uri_of(header: str) -> str:
    """The URI of a From/To/Contact header value."""
    match = re.search(r"<([^>]+)>", header)
    return match.group(1) if match else header.split(";")[0].strip()


def digest_params(challenge: str) -> dict[str, str]:
    return {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))', challenge)}


class SipStub(InterworkingStub):
    protocol_name = "the SIP server"
    default_port = 5060
    identity_field = "user"
    address_form = "sip://<host>/<user>@<domain>"

    def configure(self, config: dict, identity: dict) -> None:
        self.user, self.password = identity.get("user"), identity.get("password")
        if not isinstance(self.user, str) or not self.user or not isinstance(self.password, str):
            raise ValueError(f"no SIP account: put {{\"user\": ..., \"password\": ...}} in {self.domain}.json in "
                             f"the runtime's credentialsDirectories")
        self.auth_user = str(identity.get("authUser") or self.user)
        self.transport = str(config.get("transport", "tls" if self.tls else "tcp")).upper()
        if self.transport not in ("TCP", "UDP", "TLS"):
            raise ValueError(f"configuration.transport {self.transport!r} must be tcp, udp or tls")
        if self.transport == "UDP" and self.tls:
            raise ValueError("SIP over UDP cannot use TLS (DTLS is not supported): drop configuration.tls")
        if self.transport == "TLS" and not self.tls:
            self.tls = tls_context(True)
        self.keep_alive = float(config.get("keepAliveSeconds", 30 if self.transport == "UDP" else 0))
        self.keep_alive_timer: Timer | None = None
        self.seen: dict[tuple[str, str], bytes | None] = {}  # server transactions (branch, method) -> last answer
        self.display = str(identity.get("displayName") or self.user)
        self.aor = f"sip:{self.user}@{self.host}"
        self.own_address = self.address_of(f"{self.user}@{self.host}")
        self.expires = int(config.get("registerExpiresSeconds", 300))
        self.request_timeout = float(config.get("requestTimeoutSeconds", 32))
        self.buffer = b""
        self.transactions: dict[str, dict] = {}  # branch -> client transaction
        self.dialogs: dict[str, dict] = {}  # call id -> dialog
        self.server_transactions: dict[str, SipMessage] = {}  # id of the emitted reTHINK request -> SIP request
        self.next_inbound = 0
        self.register_call = ""
        self.register_cseq = 0
        self.refresh: Timer | None = None

    def address_of(self, user_at_domain: str) -> str:
        return f"sip://{self.host}/{quote(user_at_domain, safe='@')}"

    def target_of(self, address: object) -> str | None:
        """The SIP URI of ``sip://<host>/<user>@<domain>`` (a leading ``sip:`` in the path is accepted)."""
        target = super().target_of(address)
        return f"sip:{target.removeprefix('sip:')}" if target and target != "sip:" else None

    def address_of_uri(self, uri: str) -> str:
        return self.address_of(uri.split(";")[0].removeprefix("sip:").removeprefix("sips:"))

    # MARK: transport

    def open_session(self, host: str, port: int) -> None:
        self.buffer = b""
        if self.transport == "UDP":
            self.link = self.connect_udp(host, port, self.register, self.on_datagram)
        else:
            self.link = self.connect_tcp(host, port, self.register, self.on_data, self.tls)

    def on_session_lost(self, reason: str) -> None:
        self.buffer = b""
        self.transactions.clear()
        self.server_transactions.clear()  # their answers could not reach the peer any more
        for timer in (self.refresh, self.keep_alive_timer):
            if timer:
                timer.cancel()
        self.refresh = self.keep_alive_timer = None

    def local(self) -> tuple[str, int]:
        return self.link.sock.getsockname()[:2] if self.link and self.link.sock else ("127.0.0.1", 0)

    def contact(self) -> str:
        ip, port = self.local()
        return f"<sip:{self.user}@{ip}:{port};transport={self.transport.lower()}>"

    def write_message(self, start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
        text = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        text += f"Content-Length: {len(body)}\r\n\r\n"
        raw = text.encode("utf-8") + body
        if self.link is not None:
            self.link.send(raw)
        return raw

    def on_data(self, data: bytes) -> None:
        """TCP/TLS: messages framed by their Content-Length."""
        self.buffer += data
        while self.link is not None:
            self.buffer = self.buffer.lstrip(b"\r\n")
            parsed = parse_message(self.buffer, stream=True)
            if parsed is None:
                if len(self.buffer) > 65536:
                    self.session_lost("the SIP server sent an over-long message")
                return
            message, self.buffer = parsed
            self.dispatch(message)

    def on_datagram(self, data: bytes) -> None:
        """UDP: one message per datagram."""
        parsed = parse_message(data.lstrip(b"\r\n"), stream=False)
        if parsed is not None:
            self.dispatch(parsed[0])

    def dispatch(self, message: SipMessage) -> None:
        if message.is_response:
            self.on_response(message)
        else:
            self.on_request(message)

    # MARK: client transactions

    def send_request(self, method: str, uri: str, call_id: str, cseq: int, from_tag: str, to: str,
                     msg: dict | None = None, body: bytes = b"", content_type: str | None = None,
                     auth: str | None = None, **state) -> str:
        ip, port = self.local()
        branch = "z9hG4bK" + random_token()
        headers = [("Via", f"SIP/2.0/{self.transport} {ip}:{port};branch={branch};rport"), ("Max-Forwards", "70"),
                   ("From", f"\"{self.display}\" <{self.aor}>;tag={from_tag}"), ("To", to),
                   ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"), ("Contact", self.contact()),
                   ("User-Agent", "rethink-sip-stub/1.0")]
        headers += [("Route", route) for route in state.get("routes", [])]
        if method == "REGISTER":
            headers.append(("Expires", str(self.expires)))
        if auth:
            name, _, value = auth.partition(": ")
            headers.append((name, value))
        if content_type:
            headers.append(("Content-Type", content_type))
        raw = self.write_message(f"{method} {uri} SIP/2.0", headers, body)
        self.transactions[branch] = dict(state, method=method, uri=uri, call_id=call_id, cseq=cseq,
                                         from_tag=from_tag, to=to, msg=msg, body=body, content_type=content_type,
                                         authenticated=auth is not None)
        if self.transport == "UDP" and method != "ACK":
            self.transactions[branch]["timer"] = self.call_later(T1, self.retransmit, branch, raw, T1, T1)
        return branch

    def retransmit(self, branch: str, raw: bytes, interval: float, elapsed: float) -> None:
        """UDP: resend until a response comes (timers A/E), give up after 32 s (timers B/F)."""
        transaction = self.transactions.get(branch)
        if transaction is None or self.link is None:
            return
        method = transaction["method"]
        if elapsed >= TIMEOUT:
            del self.transactions[branch]
            if method in ("REGISTER", "OPTIONS"):
                self.session_lost(f"{self.link.name} did not answer a {method} within {TIMEOUT:g} s")
            elif transaction.get("key") is not None:
                self.settle(transaction["key"], 408, desc=f"no answer to the {method} within {TIMEOUT:g} s")
            return
        self.link.send(raw)
        interval = interval * 2 if method == "INVITE" else min(interval * 2, T2)
        transaction["timer"] = self.call_later(interval, self.retransmit, branch, raw, interval, elapsed + interval)

    def on_response(self, response: SipMessage) -> None:
        transaction = self.transactions.get(response.branch)
        if transaction is None:
            return
        if transaction.get("timer"):
            transaction["timer"].cancel()  # a provisional answer ends retransmissions too (simplified timer E)
            transaction["timer"] = None
        if transaction["method"] == "OPTIONS":
            if response.code >= 200:
                del self.transactions[response.branch]
            return
        if response.code < 200:
            if transaction["method"] == "INVITE" and transaction["msg"] and response.code > 100:
                self.send({"id": transaction["msg"]["id"], "type": "response", "from": transaction["msg"]["to"],
                           "to": transaction["msg"]["from"], "body": {"code": response.code, "desc": response.reason}})
            return
        del self.transactions[response.branch]
        if response.code in (401, 407) and not transaction["authenticated"]:
            self.authenticate(transaction, response)
            return
        if transaction["method"] == "INVITE":
            self.invite_answered(transaction, response)
        if transaction["method"] == "REGISTER":
            self.registered(response)
        elif transaction["msg"] is not None and transaction["method"] != "ACK":
            self.answer(transaction, response)

    def authenticate(self, transaction: dict, challenge: SipMessage) -> None:
        header = "www-authenticate" if challenge.code == 401 else "proxy-authenticate"
        params = digest_params(challenge.get(header))
        realm, nonce, method, uri = params.get("realm", ""), params.get("nonce", ""), transaction["method"], transaction["uri"]
        md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = md5(f"{self.auth_user}:{realm}:{self.password}"), md5(f"{method}:{uri}")
        fields = f'username="{self.auth_user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
        if "auth" in params.get("qop", "").split(","):
            cnonce = random_token()
            fields += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
            digest = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        else:
            digest = md5(f"{ha1}:{nonce}:{ha2}")
        fields += f', response="{digest}"' + (f', opaque="{params["opaque"]}"' if "opaque" in params else "")
        name = "Authorization" if challenge.code == 401 else "Proxy-Authorization"
        state = {k: v for k, v in transaction.items() if k not in ("method", "uri", "call_id", "cseq", "from_tag",
                                                                   "to", "msg", "body", "content_type",
                                                                   "authenticated")}
        if transaction["method"] == "REGISTER":
            self.register_cseq += 1
        self.send_request(transaction["method"], uri, transaction["call_id"], transaction["cseq"] + 1,
                          transaction["from_tag"], transaction["to"], transaction["msg"], transaction["body"],
                          transaction["content_type"], f"{name}: Digest {fields}", **state)
        if transaction["method"] == "INVITE" and transaction["call_id"] in self.dialogs:
            self.dialogs[transaction["call_id"]]["cseq"] = transaction["cseq"] + 1

    def answer(self, transaction: dict, response: SipMessage) -> None:
        msg = transaction["msg"]
        code = response.code
        if 200 <= code < 300:
            mapped = 200
        elif code in (401, 407):
            mapped = 403
        elif 400 <= code < 600:
            mapped = code
        else:
            mapped = {604: 404, 600: 486, 603: 603}.get(code, 502)
        value = {"sip": {"code": code, "reason": response.reason}}
        if transaction["method"] == "INVITE" and 200 <= code < 300:
            value.update(call=transaction["call_id"], sdp=response.body.decode("utf-8", "replace") or None)
        key = transaction.get("key")
        if key is not None and self.expected(key) is not None:
            self.settle(key, mapped, value=value, desc=f"SIP {code} {response.reason}")

    # MARK: REGISTER

    def register(self) -> None:
        self.register_call = f"{random_token()}@rethink"
        self.register_cseq = 1
        self.send_register()

    def send_register(self) -> None:
        self.send_request("REGISTER", f"sip:{self.host}", self.register_call, self.register_cseq, random_token(),
                          f"<{self.aor}>")

    def registered(self, response: SipMessage) -> None:
        if 200 <= response.code < 300:
            if not self.up:
                self.session_up(f"registered {self.aor} at {self.link.name if self.link else '?'} over "
                                f"{self.transport}")
                if self.keep_alive > 0:
                    self.keep_alive_timer = self.call_later(self.keep_alive, self.send_keep_alive)
            self.register_cseq += 1
            self.refresh = self.call_later(max(5.0, self.expires * 0.8), self.send_register)
        elif response.code in (401, 403, 407):
            self.session_failed(f"the SIP server refused the credentials of {self.auth_user} for {self.aor} "
                                f"({response.code} {response.reason}); fix the credentials file {self.domain}.json "
                                f"and redeploy the stub")
        else:
            self.session_lost(f"REGISTER of {self.aor} failed: {response.code} {response.reason}")

    def send_keep_alive(self) -> None:
        """UDP has no connection to lose: an OPTIONS to the server shows it is still there (ICMP says when not)."""
        if not self.up:
            return
        self.send_request("OPTIONS", f"sip:{self.host}", f"{random_token()}@rethink", 1, random_token(),
                          f"<sip:{self.host}>")
        self.keep_alive_timer = self.call_later(self.keep_alive, self.send_keep_alive)

    # MARK: INVITE / BYE

    def invite_answered(self, transaction: dict, response: SipMessage) -> None:
        call_id = transaction["call_id"]
        if not 200 <= response.code < 300:
            if response.code not in (401, 407):
                self.dialogs.pop(call_id, None)
            return
        dialog = self.dialogs.setdefault(call_id, {})
        dialog.update(to=response.get("to"), target=uri_of(response.get("contact")) or transaction["uri"],
                      from_tag=transaction["from_tag"], cseq=transaction["cseq"],
                      routes=list(reversed(response.all("record-route"))), peer=transaction["uri"])
        self.send_request("ACK", dialog["target"], call_id, transaction["cseq"], dialog["from_tag"], dialog["to"],
                          routes=dialog["routes"])
        self.transactions = {b: t for b, t in self.transactions.items() if t["method"] != "ACK"}

    def bye(self, msg: dict, uri: str) -> None:
        call_id = body_of(msg).get("value", {}).get("call") if isinstance(body_of(msg).get("value"), dict) else None
        if call_id is None:
            calls = [c for c, d in self.dialogs.items() if d.get("peer") == uri and "target" in d]
            call_id = calls[0] if len(calls) == 1 else None
        dialog = self.dialogs.get(call_id or "")
        if dialog is None or "target" not in dialog:
            self.respond(msg, 404, desc=f"no call {call_id!r} with {uri}: give body.value.call (the call id)")
            return
        self.dialogs.pop(call_id)
        dialog["cseq"] += 1
        if dialog.get("inbound"):
            self.write_message(f"BYE {dialog['target']} SIP/2.0", self.dialog_headers(dialog, call_id, "BYE"))
            self.respond(msg, 200, desc="BYE sent", value={"call": call_id})
            return
        key = f"bye-{random_token()}"
        self.expect(key, msg, self.request_timeout)
        self.send_request("BYE", dialog["target"], call_id, dialog["cseq"], dialog["from_tag"], dialog["to"], msg,
                          key=key, routes=dialog["routes"])

    def dialog_headers(self, dialog: dict, call_id: str, method: str) -> list[tuple[str, str]]:
        ip, port = self.local()
        return [("Via", f"SIP/2.0/{self.transport} {ip}:{port};branch=z9hG4bK{random_token()};rport"), ("Max-Forwards", "70"),
                ("From", dialog["local"]), ("To", dialog["remote"]), ("Call-ID", call_id),
                ("CSeq", f"{dialog['cseq']} {method}")]

    # MARK: requests from the network

    def on_request(self, request: SipMessage) -> None:
        method = request.method
        if method == "ACK":
            return
        key = (request.branch, method)
        if key in self.seen:  # a retransmission: answer again what was answered, else wait for the answer
            if self.seen[key] is not None and self.link is not None:
                self.link.send(self.seen[key])
            return
        self.seen[key] = None
        self.call_later(TIMEOUT, self.seen.pop, key, None)
        if method == "OPTIONS":
            self.reply(request, 200)
        elif method == "BYE":
            call_id = request.get("call-id")
            known = self.dialogs.pop(call_id, None) is not None
            self.reply(request, 200 if known else 481)
            if known and self.own_address in self.listened:
                self.send({"type": "delete", "from": self.address_of_uri(uri_of(request.get("from"))),
                           "to": self.own_address, "body": {"value": {"call": call_id}}})
        elif method in ("MESSAGE", "INVITE"):
            if self.own_address not in self.listened:
                self.log(f"nobody listens on {self.own_address}: {method} from {request.get('from')} answered 480",
                         LOG_WARNING)
                self.reply(request, 480)
                return
            self.next_inbound += 1
            ident = f"sip-{self.next_inbound}"
            self.server_transactions[ident] = request
            text = request.body.decode("utf-8", "replace")
            if method == "MESSAGE":
                value: object = text
            else:
                value = {"call": "invite", "callId": request.get("call-id"), "sdp": text or None}
                self.reply(request, 100)
            self.send({"id": ident, "type": "create", "from": self.address_of_uri(uri_of(request.get("from"))),
                       "to": self.own_address,
                       "body": {"value": value, "contentType": request.get("content-type") or None}})
        else:
            self.reply(request, 501)

    def reply(self, request: SipMessage, code: int, to_tag: str | None = None, extra: list | None = None) -> None:
        to = request.get("to")
        if code > 100 and not tag_of(to):
            to += f";tag={to_tag or random_token()}"
        headers = [("Via", via) for via in request.all("via")] + [
            ("From", request.get("from")), ("To", to), ("Call-ID", request.get("call-id")),
            ("CSeq", request.get("cseq"))] + (extra or [])
        raw = self.write_message(f"SIP/2.0 {code} {REASONS.get(code, 'Unknown')}", headers)
        if (request.branch, request.method) in self.seen:
            self.seen[(request.branch, request.method)] = raw

    def answer_inbound(self, msg: dict) -> None:
        request = self.server_transactions.get(str(msg.get("id")))
        if request is None:
            return
        code = body_of(msg).get("code")
        if not isinstance(code, int) or code < 200:
            return
        del self.server_transactions[str(msg.get("id"))]
        sip_code = 200 if code < 300 else code if 400 <= code < 700 else 500
        if not self.up:
            self.log(f"lost the SIP answer {sip_code} to {request.method} (not connected)", LOG_WARNING)
            return
        if request.method == "INVITE" and sip_code == 200:
            tag = random_token()
            call_id = request.get("call-id")
            self.dialogs[call_id] = {"inbound": True, "target": uri_of(request.get("contact")),
                                     "local": request.get("to") + f";tag={tag}", "remote": request.get("from"),
                                     "cseq": 1, "peer": uri_of(request.get("from"))}
            self.reply(request, 200, tag, [("Contact", self.contact())])
        else:
            self.reply(request, sip_code)

    # MARK: from the runtime

    def on_runtime_response(self, msg: dict) -> None:
        self.answer_inbound(msg)

    def on_legacy_message(self, msg: dict, uri: str, is_request: bool) -> None:
        kind = msg.get("type")
        if not is_request:
            self.log(f"a {kind} without id to {msg.get('to')} was dropped: SIP requests need an answer", LOG_WARNING)
            return
        if kind == "delete":
            self.bye(msg, uri)
            return
        value = body_of(msg).get("value")
        key = f"tx-{random_token()}"
        call_id, tag = f"{random_token()}@rethink", random_token()
        if isinstance(value, dict) and value.get("call") == "invite":
            sdp = value.get("sdp")
            self.dialogs[call_id] = {"peer": uri}
            self.expect(key, msg, self.request_timeout)
            self.send_request("INVITE", uri, call_id, 1, tag, f"<{uri}>", msg,
                              sdp.encode() if isinstance(sdp, str) else b"",
                              "application/sdp" if isinstance(sdp, str) else None, key=key)
            return
        text = text_of(value)
        if text is None:
            self.respond(msg, 400, desc="body.value must be the text of a MESSAGE, {\"text\": ...}, or "
                                        "{\"call\": \"invite\"} to start a call")
            return
        content_type = value.get("contentType", "text/plain") if isinstance(value, dict) else "text/plain"
        self.expect(key, msg, self.request_timeout)
        self.send_request("MESSAGE", uri, call_id, 1, tag, f"<{uri}>", msg, text.encode("utf-8"), content_type,
                          key=key)


if __name__ == "__main__":
    sys.exit(SipStub().run())
