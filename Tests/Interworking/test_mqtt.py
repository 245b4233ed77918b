"""The MQTT IWStub against a real mosquitto: a reTHINK client and a paho-mqtt client in both directions."""

from __future__ import annotations

import queue
import subprocess
import time
import unittest

from harness import Workspace, free_port, port_open, require, wait_for

BROKER = "broker.test"
KEY = f"mqtt.{BROKER}"


class MqttInterworking(Workspace):
    def setUp(self) -> None:
        require("mosquitto")
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-paho-mqtt is not installed")
        super().setUp()
        self.port = free_port()

    def broker(self, name: str = "mosquitto", password: tuple[str, str] | None = None, tls: bool = False):
        conf = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if tls:
            cert, key = self.certificate("broker.test")
            conf += [f"certfile {cert}", f"keyfile {key}"]
        if password:
            subprocess.run(["mosquitto_passwd", "-b", "-c", self.path("passwd"), *password], check=True)
            conf += ["allow_anonymous false", f"password_file {self.path('passwd')}"]
        else:
            conf.append("allow_anonymous true")
        with open(self.path(f"{name}.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")
        child = self.start(["mosquitto", "-c", self.path(f"{name}.conf")], name)
        wait_for(lambda: port_open(self.port), 5, "mosquitto")
        return child

    def runtime(self, credentials: dict | None = None, **configuration):
        return self.iw_runtime("mqtt", KEY, self.port, credentials, **configuration)

    def native(self, *topics: str):
        import paho.mqtt.client as mqtt
        received: queue.Queue = queue.Queue()
        native = mqtt.Client(client_id="native", protocol=mqtt.MQTTv311)
        native.on_message = lambda c, u, m: received.put((m.topic, m.payload.decode()))
        native.connect("127.0.0.1", self.port)
        for topic in topics:
            native.subscribe(topic, qos=1)
        native.loop_start()
        self.addCleanup(native.loop_stop)
        self.addCleanup(native.disconnect)
        return native, received

    def listening(self, native_topic: str, address: str):
        """mosquitto, a native client subscribed to ``native_topic``, and a runtime whose client listens on
        ``address`` with the stub live."""
        self.broker()
        native, received = self.native(native_topic)
        client = self.runtime()
        client.listen(address)
        client.status(KEY, "live")
        return native, received, client

    def test_a_topic_with_two_local_listeners_and_a_remote_publisher_and_a_local_one(self) -> None:
        topic = f"mqtt://{BROKER}/news"
        native, received, first = self.listening("news", topic)
        second = self.runtime_daemon.client()
        second.listen(topic)

        def delivered_to_both():
            native.publish("news", "from afar", qos=1)
            try:
                return [c.next(lambda m: m.get("to") == topic and m["body"].get("value") == "from afar", 0.5)
                        for c in (first, second)]
            except AssertionError:
                return None
        wait_for(delivered_to_both, 10, "the remote publication at both local listeners")
        # the broker keeps one publisher's order: once its marker is in, every earlier "from afar" is too
        native.publish("news", "afar done", qos=1)
        for client in (first, second):
            client.next(lambda m: m.get("to") == topic and m["body"].get("value") == "afar done", 5)
            client.inbox[:] = [m for m in client.inbox if m["body"].get("value") != "from afar"]

        poster = self.runtime_daemon.client()
        response = poster.send(poster.url, topic, "from here")
        self.assertEqual(response["body"]["code"], 200, response)  # the broker's PUBACK
        deadline = time.monotonic() + 5
        while received.get(timeout=max(0.01, deadline - time.monotonic())) != ("news", "from here"):
            pass  # the native subscriber's copies of "from afar" first; a timeout here fails the test

        for client in (first, second):
            got = client.next(lambda m: m.get("to") == topic and m["body"].get("value") == "from here", 5)
            if got.get("id") is not None:
                client.answer(got, 200)
        # a marker published after it through the same stub: once it is in, a second copy would be too
        self.assertEqual(poster.send(poster.url, topic, "marker")["body"]["code"], 200)
        for client in (first, second):
            got = client.next(lambda m: m.get("to") == topic and m["body"].get("value") == "marker", 5)
            if got.get("id") is not None:
                client.answer(got, 200)
            again = [m for m in client.inbox if m.get("body", {}).get("value") == "from here"]
            self.assertEqual(again, [], "each local listener gets it once")
        poster.take_available()
        self.assertFalse([m for m in poster.inbox if m.get("type") == "response"], "the poster has one answer")

    def test_publish_and_subscribe_both_ways_with_a_native_client(self) -> None:
        listened = f"mqtt://{BROKER}/chat/%2B"
        native, received, client = self.listening("chat/to-native", listened)

        def delivered():
            native.publish("chat/room1", "hello from mqtt", qos=1)
            try:
                return client.next(lambda m: m.get("to") == listened and m.get("type") == "create", 0.3)
            except AssertionError:
                return None
        inbound = wait_for(delivered, 10, "a native publication to reach the reTHINK client")
        self.assertEqual(inbound["from"], f"mqtt://{BROKER}/chat/room1")
        self.assertEqual(inbound["body"]["value"], "hello from mqtt")
        self.assertEqual(inbound["body"]["topic"], "chat/room1")

        time.sleep(0.2)
        response = client.send(client.url, f"mqtt://{BROKER}/chat/to-native", "hello from rethink")
        self.assertEqual(response["body"]["code"], 200, response)
        self.assertEqual(received.get(timeout=5), ("chat/to-native", "hello from rethink"))
        wildcard = client.send(client.url, f"mqtt://{BROKER}/chat/%23", "x")
        self.assertEqual(wildcard["body"]["code"], 404)

    def test_broker_restart_goes_disconnected_then_live_with_every_request_answered(self) -> None:
        broker = self.broker()
        client = self.runtime()
        client.listen(f"mqtt://{BROKER}/news")
        client.status(KEY, "live")
        self.assertEqual(client.send(client.url, f"mqtt://{BROKER}/news", "one")["body"]["code"], 200)
        self.assert_outage_answered(client, KEY, broker, lambda: self.broker("mosquitto-again"),
                                    lambda: client.send(client.url, f"mqtt://{BROKER}/news", "two"))
        _, received = self.native("news")
        time.sleep(0.2)
        self.assertEqual(client.send(client.url, f"mqtt://{BROKER}/news", "three")["body"]["code"], 200)
        self.assertEqual(received.get(timeout=5), ("news", "three"))

    def test_bad_credentials_fail_with_an_actionable_reason(self) -> None:
        self.broker(password=("alice", "right"))
        client = self.runtime(credentials={"username": "alice", "password": "wrong"})
        self.assert_stub_failed(client, KEY, client.send(client.url, f"mqtt://{BROKER}/x", "hi"), "alice",
                                f"{KEY}.json")

    def test_tls_to_the_broker_with_a_private_ca(self) -> None:
        self.broker(tls=True)
        client = self.runtime(tls={"caFile": self.path("broker.test.crt")})
        self.assertEqual(client.send(client.url, f"mqtt://{BROKER}/secure", "over tls")["body"]["code"], 200)

    def test_good_credentials_from_the_credential_store_log_in(self) -> None:
        self.broker(password=("alice", "right"))
        client = self.runtime(credentials={"username": "alice", "password": "right"})
        self.assertEqual(client.send(client.url, f"mqtt://{BROKER}/x", "hi")["body"]["code"], 200)


if __name__ == "__main__":
    unittest.main()
