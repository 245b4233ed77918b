"""IWStub for MQTT 3.1.1 brokers (domain key ``mqtt.<host>``): publish and subscribe on topics.

``mqtt://<host>/<topic>`` is a topic (the path, percent-decoded: ``%23`` is ``#``, ``%2B`` is ``+``).
A request to such an address publishes its ``body.value`` there (QoS 1, answered 200 once the
broker acknowledged it); listening on one subscribes to it, and what the broker delivers comes in
as a ``create`` from ``mqtt://<host>/<actual topic>`` to the address listened on. Mapping:
docs/stubs/mqtt.md.

Configuration: ``servers`` (default ``127.0.0.1:1883``), ``clientId``, ``keepAliveSeconds``
(default 30), ``requestTimeoutSeconds`` (default 10), ``reconnect``. Identity (credential store
or deploy ``body.identity``): ``username`` (or ``user``) and ``password``.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
from urllib.parse import quote

from rethink_network import InterworkingStub
from rethink_stub import Timer, body_of

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 1, 2, 3, 4, 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

CONNACK_REASONS = {
    1: "the broker does not accept MQTT 3.1.1",
    2: "the broker rejected the client identifier",
    3: "the broker is unavailable",
    4: "the broker refused the user name or password",
    5: "the broker says this client is not authorised",
}


def mqtt_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def packet(kind: int, flags: int, payload: bytes) -> bytes:
    length, header = len(payload), bytearray([kind << 4 | flags])
    while True:
        byte, length = length % 128, length // 128
        header.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(header) + payload


def topic_matches(topic_filter: str, topic: str) -> bool:
    parts, names = topic_filter.split("/"), topic.split("/")
    for index, part in enumerate(parts):
        if part == "#":
            return True
        if index >= len(names) or (part != "+" and part != names[index]):
            return False
    return len(parts) == len(names)


class MqttStub(InterworkingStub):
    protocol_name = "the MQTT broker"
    default_port = 1883
    identity_field = "username"
    address_form = "mqtt://<host>/<topic> (a topic filter to listen on: %2B for +, %23 for #)"

    def configure(self, config: dict, identity: dict) -> None:
        # every topic is multi-party, and the broker delivers a publication back to this session's own
        # subscriptions: a local publish goes to the broker, and local subscribers get it from there
        self.echoed = [f"mqtt://{self.host}/"]
        self.client_id = str(config.get("clientId") or f"rethink-{os.urandom(6).hex()}")
        self.keep_alive = int(config.get("keepAliveSeconds", 30))
        self.request_timeout = float(config.get("requestTimeoutSeconds", 10))
        self.username = identity.get("username", identity.get("user"))
        self.password = identity.get("password")
        self.subscriptions: dict[str, str] = {}  # listened address -> topic filter
        self.buffer = bytearray()
        self.next_packet = 0
        self.ping_timer: Timer | None = None
        self.ping_outstanding = False

    def address_of(self, topic: str) -> str:
        return f"mqtt://{self.host}/{quote(topic, safe='/')}"

    def packet_id(self) -> int:
        self.next_packet = self.next_packet % 65535 + 1
        return self.next_packet

    # MARK: the session

    def open_session(self, host: str, port: int) -> None:
        self.buffer.clear()
        self.link = self.connect_tcp(host, port, self.send_connect, self.on_data, self.tls)

    def send_connect(self) -> None:
        flags = 0x02  # clean session
        payload = mqtt_string(self.client_id)
        if self.username is not None:
            flags |= 0x80
            payload += mqtt_string(str(self.username))
            if self.password is not None:
                flags |= 0x40
                payload += mqtt_string(str(self.password))
        variable = mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keep_alive)
        self.link.send(packet(CONNECT, 0, variable + payload))

    def on_session_lost(self, reason: str) -> None:
        self.buffer.clear()
        if self.ping_timer:
            self.ping_timer.cancel()
            self.ping_timer = None

    def keep_alive_tick(self) -> None:
        if not self.up:
            return
        if self.ping_outstanding:
            self.session_lost(f"the MQTT broker did not answer a ping within {self.keep_alive / 2:g} s")
            return
        self.ping_outstanding = True
        self.link.send(packet(PINGREQ, 0, b""))
        self.ping_timer = self.call_later(self.keep_alive / 2, self.keep_alive_tick)

    def on_data(self, data: bytes) -> None:
        self.buffer += data
        while self.link is not None and len(self.buffer) >= 2:
            length, multiplier, index = 0, 1, 1
            while True:
                if index >= len(self.buffer):
                    return
                byte = self.buffer[index]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                index += 1
                if not byte & 0x80:
                    break
            if len(self.buffer) < index + length:
                return
            kind, flags = self.buffer[0] >> 4, self.buffer[0] & 0x0F
            body = bytes(self.buffer[index:index + length])
            del self.buffer[:index + length]
            self.on_packet(kind, flags, body)

    def on_packet(self, kind: int, flags: int, body: bytes) -> None:
        if kind == CONNACK:
            code = body[1] if len(body) > 1 else 255
            if code == 0:
                self.resubscribe()
                self.session_up(f"connected to the MQTT broker at {self.link.name} as {self.client_id}")
                if self.keep_alive:
                    self.ping_outstanding = False
                    self.ping_timer = self.call_later(self.keep_alive / 2, self.keep_alive_tick)
            elif code in (4, 5):
                who = f"user {self.username!r}" if self.username is not None else "anonymous clients"
                self.session_failed(f"{CONNACK_REASONS[code]} ({who}); fix the credentials file {self.domain}.json "
                                    f"in the runtime's credentialsDirectories and redeploy the stub")
            else:
                self.session_lost(CONNACK_REASONS.get(code, f"the broker refused the connection (code {code})"))
        elif kind == PINGRESP:
            self.ping_outstanding = False
        elif kind == PUBLISH:
            self.on_publish(flags, body)
        elif kind in (PUBACK, SUBACK, UNSUBACK):
            number = struct.unpack("!H", body[:2])[0]
            refused = kind == SUBACK and any(code == 0x80 for code in body[2:])
            self.settle(number, 403 if refused else 200,
                        desc="the broker refused the subscription" if refused else "acknowledged by the broker")

    def resubscribe(self) -> None:
        for address, topic_filter in self.subscriptions.items():
            self.link.send(packet(SUBSCRIBE, 2, struct.pack("!H", self.packet_id()) + mqtt_string(topic_filter) + b"\x01"))

    def on_publish(self, flags: int, body: bytes) -> None:
        size = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + size].decode("utf-8", "replace")
        rest = body[2 + size:]
        qos = (flags >> 1) & 3
        if qos:
            self.link.send(packet(PUBACK, 0, rest[:2]))
            rest = rest[2:]
        try:
            value, extra = rest.decode("utf-8"), {}
        except UnicodeDecodeError:
            value, extra = base64.b64encode(rest).decode("ascii"), {"encoding": "base64"}
        for address, topic_filter in self.subscriptions.items():
            if topic_matches(topic_filter, topic):
                self.send({"type": "create", "from": self.address_of(topic), "to": address,
                           "body": dict(extra, value=value, topic=topic)})

    # MARK: from the runtime

    def on_legacy_message(self, msg: dict, topic: str, is_request: bool) -> None:
        if "+" in topic or "#" in topic:
            if is_request:
                self.respond(msg, 404, desc=f"{msg.get('to')}: cannot publish to a topic filter")
            return
        value = body_of(msg).get("value")
        payload = value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode("utf-8")
        if is_request:
            number = self.packet_id()
            self.expect(number, msg, self.request_timeout)
            self.link.send(packet(PUBLISH, 2, mqtt_string(topic) + struct.pack("!H", number) + payload))
        else:
            self.link.send(packet(PUBLISH, 0, mqtt_string(topic) + payload))

    def on_listen(self, msg: dict, kind: str, addresses: list[str], topics: list[str]) -> None:
        payload = b""
        for address, topic in zip(addresses, topics):
            if kind == "subscribe":
                self.subscriptions[address] = topic
                payload += mqtt_string(topic) + b"\x01"
            else:
                self.subscriptions.pop(address, None)
                payload += mqtt_string(topic)
        if not self.up:
            self.respond(msg, 200, desc=f"{kind} applied when the connection to the broker is back", value=addresses)
            return
        number = self.packet_id()
        self.expect(number, msg, self.request_timeout)
        self.link.send(packet(SUBSCRIBE if kind == "subscribe" else UNSUBSCRIBE, 2, struct.pack("!H", number) + payload))


if __name__ == "__main__":
    sys.exit(MqttStub().run())
