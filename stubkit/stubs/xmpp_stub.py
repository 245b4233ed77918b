"""IWStub for XMPP servers (domain key ``xmpp.<host>``): log in as the user, chat messages, presence.

``xmpp://<host>/<jid>`` is an XMPP address as seen from the server ``<host>``; the stub logs in
with the identity's JID (``xmpp://<host>/<own jid>`` is where a client listens for what comes in).
A request to a JID sends a chat message (``body.value`` text, or ``{"text", "type", "subject"}``)
or a presence (``{"presence": "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed"}``);
an ``update`` to the own address with ``{"show", "status"}`` changes the own presence. Requests are
answered 200 once the server processed the stanza (an XEP-0199 ping to the server behind it comes
back first), or with the code of the stanza error the server returned. Mapping: docs/stubs/xmpp.md.

Configuration: ``servers`` (default ``<host>:5222``), ``requestTimeoutSeconds`` (10), ``reconnect``.
Identity (credential store): ``jid``, ``password``, optional ``resource``. STARTTLS is required
(``tls``: true by default, the system's CAs, or ``{"caPem": ...}`` / ``{"caFile": ...}``, see ``tls_context``);
``"tls": false`` logs in with SASL PLAIN in clear, for loopback only.
"""

from __future__ import annotations

import base64
import sys
import xml.etree.ElementTree as ET
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from rethink_network import InterworkingStub, tls_context
from rethink_stub import LOG_NOTICE, LOG_WARNING, body_of

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
PRESENCE_TYPES = {"subscribe", "subscribed", "unsubscribe", "unsubscribed", "unavailable", "probe"}
ERROR_CODES = {"item-not-found": 404, "service-unavailable": 404, "recipient-unavailable": 404,
               "remote-server-not-found": 404, "forbidden": 403, "not-authorized": 403, "not-allowed": 403,
               "bad-request": 400, "jid-malformed": 400, "policy-violation": 403}


def q(tag: str, ns: str = NS_CLIENT) -> str:
    return f"{{{ns}}}{tag}"


def bare(jid: str) -> str:
    return jid.partition("/")[0]


def error_condition(stanza: ET.Element) -> str:
    """The defined condition of a stanza error (``item-not-found``, ...), or ``error``."""
    error = stanza.find(q("error"))
    return next((c.tag.partition("}")[2] for c in (error if error is not None else [])
                 if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text")), "error")


class XmppStub(InterworkingStub):
    protocol_name = "the XMPP server"
    default_port = 5222
    identity_field = "jid"
    address_form = "xmpp://<host>/<jid>"

    def configure(self, config: dict, identity: dict) -> None:
        self.jid, self.password = identity.get("jid"), identity.get("password")
        if not isinstance(self.jid, str) or "@" not in self.jid or not isinstance(self.password, str):
            raise ValueError(f"no XMPP account: put {{\"jid\": \"user@{self.host}\", \"password\": ...}} in "
                             f"{self.domain}.json in the runtime's credentialsDirectories")
        self.jid = bare(self.jid)
        self.resource = str(identity.get("resource") or "rethink")
        if "tls" not in config:
            self.tls = tls_context(True)  # STARTTLS with the system's CAs unless the descriptor says otherwise
        self.request_timeout = float(config.get("requestTimeoutSeconds", 10))
        self.own_address = self.address_of(self.jid)
        self.next_stanza = 0
        self.pending_stanzas: dict[str, str] = {}  # stanza id -> expectation key
        self.parser: ET.XMLPullParser | None = None
        # Rooms (XEP-0045): a JID on one of these domains is a room, joined while the runtime listens on it.
        # The room reflects each message to every occupant, this one included: declared echoed, so that a
        # local client's post goes to the room and reaches the local listeners from there, once.
        self.muc_domains = [str(d).lower() for d in config.get("mucDomains", [f"conference.{self.jid.partition('@')[2]}"])]
        self.nick = str(identity.get("nick") or self.jid.partition("@")[0])
        self.rooms: set[str] = set()
        # The rooms whose own presence came back (joined), and the retries of joins the room refused.
        self.joined: set[str] = set()
        self.join_retries: dict[str, tuple[int, object]] = {}  # room -> (failures so far, pending Timer)

    def is_room(self, jid: str) -> bool:
        return bare(jid).partition("@")[2].lower() in self.muc_domains

    def join(self, room: str) -> None:
        """Ask to join ``room``; it is joined once the room sends back our own presence (``on_room_presence``)."""
        self.write(f"<presence to={quoteattr(f'{room}/{self.nick}')}><x xmlns='http://jabber.org/protocol/muc'>"
                   f"<history maxstanzas='0'/></x></presence>")

    def on_listen(self, msg: dict, kind: str, addresses: list[str], targets: list[str]) -> None:
        for target in targets:
            room = bare(target)
            if not self.is_room(room):
                continue
            if kind == "subscribe" and room not in self.rooms:
                self.rooms.add(room)
                if self.up:
                    self.join(room)
            elif kind == "unsubscribe" and room in self.rooms:
                self.rooms.discard(room)
                self.forget_room(room)
                if self.up:
                    self.write(f"<presence to={quoteattr(f'{room}/{self.nick}')} type='unavailable'/>")
        self.echoed = sorted(self.address_of(room) for room in self.rooms)
        super().on_listen(msg, kind, addresses, targets)
        self.report_rooms()

    def report_rooms(self) -> None:
        """``live`` with the rooms in the description, each joined or still joining: a client that posts to a
        room can wait for it to be joined (a post before that is refused by the room)."""
        if self.up:
            rooms = [f"{room} ({'joined' if room in self.joined else 'joining'})" for room in sorted(self.rooms)]
            self.report_status("live", "rooms: " + (", ".join(rooms) or "none"))

    def forget_room(self, room: str) -> None:
        self.joined.discard(room)
        self.drop_retries(room)

    def drop_retries(self, room: str) -> None:
        """Forget the refused joins of ``room``, and cancel the retry still pending."""
        _, timer = self.join_retries.pop(room, (0, None))
        if timer is not None:
            timer.cancel()

    def session_up(self, desc: str | None = None) -> None:
        super().session_up(desc)
        for room in sorted(self.rooms):
            self.join(room)

    def on_room_presence(self, stanza: ET.Element, room: str, nick: str) -> None:
        """Our own presence in a room (joined, or left), or the room's refusal of our join, retried with a
        growing delay while someone listens there: a room that refused once (a server still starting its
        rooms, a nick taken by a session that is going away) may take us later."""
        if room not in self.rooms:
            return
        kind = stanza.get("type", "available")
        if kind == "error":
            failures, timer = self.join_retries.get(room, (0, None))
            if timer is not None:
                return  # a retry is already pending
            condition = error_condition(stanza)
            delay = min(60.0, 2.0 ** failures)
            self.joined.discard(room)
            self.log(f"the room {room} refused to let {self.nick} join ({condition}); joining again in {delay:.0f} s",
                     LOG_WARNING)
            self.join_retries[room] = (failures + 1, self.call_later(delay, self.retry_join, room))
            self.report_rooms()
            return
        if not any(status.get("code") == "110" for status in stanza.iter(f"{{{NS_MUC_USER}}}status")):
            return  # another occupant (the room marks our own presence with status 110): not carried
        if kind == "unavailable" and room in self.joined:
            self.joined.discard(room)
            self.log(f"left the room {room}", LOG_WARNING)
            self.report_rooms()
        elif kind != "unavailable" and room not in self.joined:
            self.joined.add(room)
            self.drop_retries(room)
            self.log(f"joined the room {room} as {nick}", LOG_NOTICE)
            self.report_rooms()

    def retry_join(self, room: str) -> None:
        failures, _ = self.join_retries.get(room, (0, None))
        self.join_retries[room] = (failures, None)
        if self.up and room in self.rooms and room not in self.joined:
            self.join(room)

    def address_of(self, jid: str) -> str:
        return f"xmpp://{self.host}/{quote(bare(jid), safe='@')}"

    # MARK: the session

    def open_session(self, host: str, port: int) -> None:
        self.state = "features"
        self.secured = False
        self.link = self.connect_tcp(host, port, self.open_stream, self.on_data)

    def open_stream(self) -> None:
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.write(f"<?xml version='1.0'?><stream:stream to={quoteattr(self.jid.partition('@')[2])} "
                   f"xmlns='jabber:client' xmlns:stream='{NS_STREAM}' version='1.0'>")

    def write(self, text: str) -> None:
        if self.link is not None:
            self.link.send(text.encode("utf-8"))

    def on_session_lost(self, reason: str) -> None:
        self.parser = None
        self.pending_stanzas.clear()
        for room in list(self.joined) + list(self.join_retries):
            self.forget_room(room)  # joined again, from the start, once the session is back

    def on_undeploy(self) -> None:
        if self.up:
            self.write("<presence type='unavailable'/></stream:stream>")
        super().on_undeploy()

    def on_data(self, data: bytes) -> None:
        if self.parser is None:
            return
        parser = self.parser
        try:
            parser.feed(data)
            for event, element in parser.read_events():
                if self.parser is not parser or self.link is None:
                    return  # the stream was restarted (SASL) or closed by a handler
                if event == "start":
                    self.depth += 1
                    if self.depth == 1:
                        self.root = element
                    continue
                self.depth -= 1
                if self.depth == 0:
                    self.session_lost("the XMPP server closed the stream")
                    return
                if self.depth == 1:
                    self.on_stanza(element)
                    if self.parser is parser:
                        self.root.remove(element)
        except ET.ParseError as error:
            self.session_lost(f"the XMPP server sent bad XML: {error}")

    def on_stanza(self, stanza: ET.Element) -> None:
        tag = stanza.tag
        if tag == q("features", NS_STREAM):
            self.on_features(stanza)
        elif tag == q("proceed", NS_TLS):
            self.secured = True
            self.state = "features"
            self.link.start_tls(self.tls, self.tls_server_name or self.jid.partition("@")[2], self.open_stream)
        elif tag == q("failure", NS_TLS):
            self.session_lost("the XMPP server could not start TLS")
        elif tag == q("success", NS_SASL):
            self.state = "bind"
            self.open_stream()
        elif tag == q("failure", NS_SASL):
            condition = stanza[0].tag.partition("}")[2] if len(stanza) else "failure"
            self.session_failed(f"the XMPP server refused the password for {self.jid} ({condition}); fix the "
                                f"credentials file {self.domain}.json and redeploy the stub")
        elif tag == q("error", NS_STREAM):
            condition = stanza[0].tag.partition("}")[2] if len(stanza) else "error"
            self.session_lost(f"the XMPP server ended the stream: {condition}")
        elif tag == q("iq"):
            self.on_iq(stanza)
        elif tag == q("message"):
            self.on_xmpp_message(stanza)
        elif tag == q("presence"):
            self.on_presence(stanza)

    def on_features(self, features: ET.Element) -> None:
        if self.state == "features" and self.tls is not None and not self.secured:
            if features.find(q("starttls", NS_TLS)) is None:
                self.session_failed(f"the XMPP server at {self.link.name} offers no STARTTLS; refusing to send the "
                                    f"password in clear (set configuration.tls to false to allow it)")
                return
            self.write(f"<starttls xmlns='{NS_TLS}'/>")
            self.state = "starttls"
        elif self.state == "features":
            mechanisms = [m.text for m in features.iter(q("mechanism", NS_SASL))]
            if "PLAIN" not in mechanisms:
                self.session_failed(f"the XMPP server offers no SASL PLAIN login (it offers {mechanisms}); "
                                    f"this stub cannot log in there")
                return
            token = base64.b64encode(f"\0{self.jid.partition('@')[0]}\0{self.password}".encode()).decode()
            self.write(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
            self.state = "auth"
        elif self.state == "bind":
            self.write(f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'><resource>{escape(self.resource)}"
                       f"</resource></bind></iq>")

    def on_iq(self, iq: ET.Element) -> None:
        kind, ident = iq.get("type"), iq.get("id", "")
        if ident == "bind":
            if kind == "result":
                self.write("<presence/>")
                self.session_up(f"logged in to {self.link.name} as {self.jid}/{self.resource}")
            else:
                self.session_lost(f"the XMPP server refused to bind resource {self.resource}")
        elif ident.startswith("rethink-") and kind in ("result", "error"):
            self.settle(ident, 200, desc="processed by the XMPP server")
        elif kind in ("get", "set"):
            ping = iq.find(q("ping", "urn:xmpp:ping")) is not None
            reply = f"<iq type='result' id={quoteattr(ident)} to={quoteattr(iq.get('from', self.host))}/>" if ping \
                else (f"<iq type='error' id={quoteattr(ident)} to={quoteattr(iq.get('from', self.host))}><error "
                      f"type='cancel'><service-unavailable xmlns='{NS_STANZAS}'/></error></iq>")
            self.write(reply)

    def on_stanza_error(self, stanza: ET.Element) -> None:
        key = self.pending_stanzas.pop(stanza.get("id", ""), None)
        condition = error_condition(stanza)
        if key is not None:
            self.settle(key, ERROR_CODES.get(condition, 502), desc=f"XMPP error from {stanza.get('from')}: {condition}")

    def deliver(self, kind: str, sender: str, body: dict) -> bool:
        if self.own_address not in self.listened:
            self.log(f"nobody listens on {self.own_address}; a {kind} from {sender} was not delivered", LOG_WARNING)
            return False
        self.send({"type": kind, "from": self.address_of(sender), "to": self.own_address, "body": body})
        return True

    def on_xmpp_message(self, stanza: ET.Element) -> None:
        if stanza.get("type") == "error":
            self.on_stanza_error(stanza)
            return
        text = stanza.findtext(q("body"))
        if text is None:
            return  # chat states and receipts carry no body
        if stanza.get("type") == "groupchat":
            self.on_room_message(stanza, text)
            return
        body = {"value": text, "type": stanza.get("type", "normal"), "resource": stanza.get("from", "").partition("/")[2]}
        if stanza.findtext(q("subject")) is not None:
            body["subject"] = stanza.findtext(q("subject"))
        if not self.deliver("create", stanza.get("from", self.host), body) and stanza.get("from"):
            # tell the sender, as a server does for a resource that is gone, rather than drop it silently
            ident = f" id={quoteattr(stanza.get('id'))}" if stanza.get("id") else ""
            self.write(f"<message type='error' to={quoteattr(stanza.get('from'))}{ident}><error type='cancel'>"
                       f"<service-unavailable xmlns='{NS_STANZAS}'/></error></message>")

    def on_room_message(self, stanza: ET.Element, text: str) -> None:
        """A message in a room (its reflection of our own included): to the room's address, for every local
        listener there; ``body.nick`` says who spoke."""
        sender = stanza.get("from", "")
        room, nick = bare(sender), sender.partition("/")[2]
        if room not in self.rooms or stanza.find("{urn:xmpp:delay}delay") is not None:
            return  # not a room listened on, or history
        address = self.address_of(room)
        self.send({"type": "create", "from": address, "to": address, "body": {"value": text, "type": "groupchat",
                                                                             "nick": nick}})

    def on_presence(self, stanza: ET.Element) -> None:
        sender = stanza.get("from", "")
        if stanza.get("type") == "error" and stanza.get("id", "") in self.pending_stanzas:
            self.on_stanza_error(stanza)  # the answer to a client's presence request
            return
        if self.is_room(sender):
            self.on_room_presence(stanza, bare(sender), sender.partition("/")[2])
            return  # occupants coming and going are not carried
        if stanza.get("type") == "error":
            self.on_stanza_error(stanza)
            return
        if not sender or bare(sender) == self.jid:
            return
        value = {"presence": stanza.get("type", "available")}
        for field in ("show", "status"):
            if stanza.findtext(q(field)) is not None:
                value[field] = stanza.findtext(q(field))
        self.deliver("update", sender, {"value": value, "resource": sender.partition("/")[2]})

    # MARK: from the runtime

    def on_legacy_message(self, msg: dict, jid: str, is_request: bool) -> None:
        self.next_stanza += 1
        stanza = self.stanza_for(jid, body_of(msg).get("value"), quoteattr(f"s-{self.next_stanza}"))
        if stanza is None:
            if is_request:
                self.respond(msg, 400, desc="body.value must be text, {\"text\": ...}, {\"presence\": ...} or, to "
                                            "your own address, {\"show\": ..., \"status\": ...}")
            return
        ident = f"rethink-{self.next_stanza}"
        self.write(stanza)
        if is_request:
            self.pending_stanzas[f"s-{self.next_stanza}"] = ident
            self.expect(ident, msg, self.request_timeout)
            self.write(f"<iq type='get' id='{ident}' to={quoteattr(self.jid.partition('@')[2])}>"
                       f"<ping xmlns='urn:xmpp:ping'/></iq>")

    def stanza_for(self, jid: str, value: object, sid: str) -> str | None:
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict):
            return None
        if isinstance(value.get("text"), str):
            kind = value.get("type") if value.get("type") in ("chat", "normal", "headline") else "chat"
            if self.is_room(jid):
                kind = "groupchat"
            subject = f"<subject>{escape(value['subject'])}</subject>" if isinstance(value.get("subject"), str) else ""
            return (f"<message to={quoteattr(jid)} type='{kind}' id={sid}>{subject}<body>{escape(value['text'])}"
                    f"</body></message>")
        if value.get("presence") in PRESENCE_TYPES:
            return f"<presence to={quoteattr(jid)} type='{value['presence']}' id={sid}/>"
        if bare(jid) == self.jid and ("show" in value or "status" in value):
            show = f"<show>{escape(str(value['show']))}</show>" if value.get("show") else ""
            status = f"<status>{escape(str(value['status']))}</status>" if value.get("status") else ""
            return f"<presence id={sid}>{show}{status}</presence>"
        return None


if __name__ == "__main__":
    sys.exit(XmppStub().run())
