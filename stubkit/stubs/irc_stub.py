"""IWStub for IRC servers (domain key ``irc.<host>``): a nick, channels, messages both ways.

``irc://<host>/#room`` (or ``irc://<host>/%23room``) is a channel, ``irc://<host>/<nick>`` a user.
Listening on a channel joins it; a request to a channel or a user sends its ``body.value`` text as
PRIVMSG, answered 200 once the server processed it without an error (a PING after it comes back
first), 404 when the nick or channel does not exist, 403 when the channel refuses it. A PRIVMSG
from the network comes in as a ``create`` from ``irc://<host>/<nick>`` to the channel address (or,
for a private message, to ``irc://<host>/<our nick>`` when a client listens on it). Mapping:
docs/stubs/irc.md.

Configuration: ``servers`` (default ``<host>:6667``), ``requestTimeoutSeconds`` (10), ``reconnect``.
Identity (credential store): ``nick`` (required), ``password`` (server password, optional),
``realname``.
"""

from __future__ import annotations

import sys
from rethink_network import InterworkingStub
from rethink_stub import LOG_WARNING, body_of, text_of

# numeric replies that reject a message to a target, and the reTHINK code they map to
TARGET_ERRORS = {"401": 404, "403": 404, "404": 403, "405": 403, "471": 403, "473": 403, "474": 403, "475": 403}
FATAL_REGISTRATION = {"464": "the IRC server refused the password", "465": "the IRC server bans this client",
                      "432": "the IRC server refused the nick as invalid", "433": "the nick is already in use"}
MAX_TEXT = 400


def parse_line(line: str) -> tuple[str, str, list[str]]:
    """(prefix, command, params) of one IRC line."""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    head, sep, trailing = line.partition(" :")
    params = head.split()
    command = params.pop(0).upper() if params else ""
    if sep:
        params.append(trailing)
    return prefix, command, params


class IrcStub(InterworkingStub):
    protocol_name = "the IRC server"
    default_port = 6667
    identity_field = "nick"
    address_form = "irc://<host>/#channel or irc://<host>/<nick>"

    def configure(self, config: dict, identity: dict) -> None:
        # channels are rooms: what a local client says there goes to IRC and to the local listeners alike
        self.multi_party = [f"irc://{self.host}/{sigil}" for sigil in ("#", "%23", "&", "%26")]
        self.nick = identity.get("nick") or config.get("nick")
        if not isinstance(self.nick, str) or not self.nick or " " in self.nick:
            raise ValueError(f"no IRC nick: put {{\"nick\": ...}} in {self.domain}.json in the runtime's "
                             f"credentialsDirectories")
        self.password = identity.get("password")
        self.realname = identity.get("realname") or "reTHINK runtime"
        self.request_timeout = float(config.get("requestTimeoutSeconds", 10))
        self.channels: dict[str, str] = {}  # listened address -> target (channel or nick), lowercased
        self.buffer = b""
        self.joined: set[str] = set()
        self.checks: list[tuple[str, str]] = []  # (ping token, target) per message awaiting confirmation
        self.next_check = 0

    def target_of(self, address: object) -> str | None:
        target = super().target_of(address)
        return target if target and "," not in target else None

    def address_of(self, target: str) -> str:
        return f"irc://{self.host}/{target}"

    # MARK: the session

    def open_session(self, host: str, port: int) -> None:
        self.buffer = b""
        self.link = self.connect_tcp(host, port, self.register, self.on_data, self.tls)

    def register(self) -> None:
        lines = [f"PASS {self.password}"] if self.password else []
        lines += [f"NICK {self.nick}", f"USER {self.nick[:9]} 0 * :{self.realname}"]
        self.write(*lines)

    def write(self, *lines: str) -> None:
        if self.link is not None:
            self.link.send("".join(line + "\r\n" for line in lines).encode("utf-8"))

    def on_session_lost(self, reason: str) -> None:
        self.checks.clear()

    def on_data(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for raw in lines:
            if self.link is None:
                return
            self.on_line(*parse_line(raw.rstrip(b"\r").decode("utf-8", "replace")))

    def on_line(self, prefix: str, command: str, params: list[str]) -> None:
        if command == "PING":
            self.write(f"PONG :{params[-1] if params else ''}")
        elif command == "001":
            self.nick = params[0] if params else self.nick
            joins = sorted({t for t in self.channels.values() if t[0] in "#&"})
            self.joined = set(joins)
            if joins:
                self.write(*(f"JOIN {channel}" for channel in joins))
            self.session_up(f"registered on {self.link.name} as {self.nick}")
        elif command in FATAL_REGISTRATION and not self.up:
            self.session_failed(f"{FATAL_REGISTRATION[command]} ({self.nick}): {params[-1] if params else ''}; "
                                f"fix the credentials file {self.domain}.json and redeploy the stub")
        elif command == "ERROR" and not self.up and "password" in (params[-1] if params else "").lower():
            self.session_failed(f"the IRC server refused the password ({self.nick}): {params[-1]}; fix the "
                                f"credentials file {self.domain}.json and redeploy the stub")
        elif command == "ERROR":
            self.session_lost(f"the IRC server closed the session: {params[-1] if params else ''}")
        elif command == "PONG":
            self.confirm(params[-1] if params else "")
        elif command in TARGET_ERRORS and len(params) >= 2:
            self.reject(params[1].lower(), TARGET_ERRORS[command], params[-1])
        elif command in ("PRIVMSG", "NOTICE") and len(params) >= 2:
            self.on_privmsg(prefix.partition("!")[0], params[0], params[1], command)

    def confirm(self, token: str) -> None:
        if token.startswith("rethink-"):
            self.checks = [(t, target) for t, target in self.checks if t != token]
            self.settle(token, 200, desc="delivered to the IRC server")

    def reject(self, target: str, code: int, reason: str) -> None:
        for token, checked in self.checks:
            if checked == target:
                self.checks.remove((token, checked))
                self.settle(token, code, desc=f"IRC: {target}: {reason}")
                return

    def on_privmsg(self, nick: str, target: str, text: str, command: str) -> None:
        extra = {"notice": True} if command == "NOTICE" else {}
        if text.startswith("\x01"):
            return  # CTCP
        wanted = target.lower() if target[0] in "#&" else self.nick.lower()
        receivers = [a for a, t in self.channels.items() if t == wanted]
        if not receivers:
            self.log(f"nobody listens on {self.address_of(wanted)}; a message from {nick} was not delivered",
                     LOG_WARNING)
        for address in receivers:
            self.send({"type": "create", "from": self.address_of(nick), "to": address,
                       "body": dict(extra, value=text, nick=nick, target=target)})

    # MARK: from the runtime

    def on_legacy_message(self, msg: dict, target: str, is_request: bool) -> None:
        text = text_of(body_of(msg).get("value"))
        if text is None:
            if is_request:
                self.respond(msg, 400, desc="body.value must be the text to send (or {\"text\": ...})")
            return
        lines = [line[i:i + MAX_TEXT] for line in text.splitlines() if line for i in range(0, len(line), MAX_TEXT)]
        if target[0] in "#&" and target.lower() not in self.joined:
            self.joined.add(target.lower())
            self.write(f"JOIN {target}")
        self.write(*(f"PRIVMSG {target} :{line}" for line in lines))
        if is_request:
            self.next_check += 1
            token = f"rethink-{self.next_check}"
            self.checks.append((token, target.lower()))
            self.expect(token, msg, self.request_timeout)
            self.write(f"PING :{token}")

    def on_listen(self, msg: dict, kind: str, addresses: list[str], targets: list[str]) -> None:
        for address, target in zip(addresses, targets):
            channel = target[0] in "#&"
            if kind == "subscribe":
                self.channels[address] = target.lower()
                if channel and self.up and target.lower() not in self.joined:
                    self.joined.add(target.lower())
                    self.write(f"JOIN {target}")
            else:
                self.channels.pop(address, None)
                if channel and self.up and target.lower() not in self.channels.values():
                    self.joined.discard(target.lower())
                    self.write(f"PART {target}")
        self.respond(msg, 200, desc=f"{kind}d", value=addresses)


if __name__ == "__main__":
    sys.exit(IrcStub().run())
