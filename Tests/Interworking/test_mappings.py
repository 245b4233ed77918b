"""The pure mappings the network stubs rely on, without servers: domain keys as the runtime computes
them, the NATS subject token, configuration parsing, MQTT topic filters, IRC lines, SIP digests; and the
templates' constraints against their own servers."""

from __future__ import annotations

import json
import re
import sys
import unittest

from harness import CATALOGUE, REPO, constraints_for

sys.dont_write_bytecode = True  # no __pycache__ beside the stubs
sys.path[:0] = [str(REPO / "stubkit"), str(REPO / "stubkit" / "stubs")]

from rethink_network import parse_servers  # noqa: E402
from rethink_stub import domain_key  # noqa: E402
from nats_stub import address_token, token_address  # noqa: E402
from mqtt_stub import topic_matches  # noqa: E402
from irc_stub import parse_line  # noqa: E402
from sip_stub import digest_params  # noqa: E402


class DomainKeys(unittest.TestCase):
    def test_domain_keys_follow_spec_section_3(self) -> None:
        cases = {
            "hyperty://acme.example/alice": "acme.example",
            "domain://msg-node.acme.example/sm": "acme.example",
            "domain://registry.acme.example/x": "acme.example",
            "xmpp://chat.example/alice@chat.example": "xmpp.chat.example",
            "MQTT://user:pw@Broker.Example:1883/a/b": "mqtt.broker.example",
            "irc://irc.test/#room": "irc.irc.test",
            "sip://sip.test/bob@sip.test": "sip.sip.test",
            "hyperty://bad_host/x": None,
            "no-scheme": None,
        }
        for address, key in cases.items():
            self.assertEqual(domain_key(address), key, address)


class NatsSubjects(unittest.TestCase):
    AWKWARD = ["hyperty://acme.example/alice", "hyperty://acme.example/a.b*c>d e\tf", "x://_5F_", "ü/€/𝄞",
               "hyperty://acme.example/" + "." * 50, ""]

    def test_any_address_becomes_one_safe_token_and_back(self) -> None:
        for address in self.AWKWARD:
            token = address_token(address)
            self.assertRegex(token, r"^[A-Za-z0-9_-]*$")
            self.assertEqual(token_address(token), address)

    def test_distinct_addresses_get_distinct_tokens(self) -> None:
        tokens = {address_token(a) for a in self.AWKWARD + ["x://_", "x://_5F"]}
        self.assertEqual(len(tokens), len(self.AWKWARD) + 2)


class Configuration(unittest.TestCase):
    def test_servers_come_from_a_list_or_host_and_port(self) -> None:
        self.assertEqual(parse_servers({"servers": ["nats://10.0.0.1:4222", "h:5", "[::1]:7"]}, 1),
                         [("10.0.0.1", 4222), ("h", 5), ("::1", 7)])
        self.assertEqual(parse_servers({"host": "h", "port": 9}, 1), [("h", 9)])
        self.assertEqual(parse_servers({}, 1883, "broker"), [("broker", 1883)])
        with self.assertRaises(ValueError):
            parse_servers({"servers": ["h:notaport"]}, 1)


class ProtocolDetails(unittest.TestCase):
    def test_mqtt_topic_filters(self) -> None:
        self.assertTrue(topic_matches("chat/+", "chat/room1"))
        self.assertTrue(topic_matches("chat/#", "chat/a/b"))
        self.assertFalse(topic_matches("chat/+", "chat/a/b"))
        self.assertFalse(topic_matches("chat/room1", "chat/room2"))

    def test_irc_lines(self) -> None:
        self.assertEqual(parse_line(":bob!~b@h PRIVMSG #room :hello: there"),
                         ("bob!~b@h", "PRIVMSG", ["#room", "hello: there"]))
        self.assertEqual(parse_line("PING :irc.test"), ("", "PING", ["irc.test"]))

    def test_sip_digest_challenge_parameters(self) -> None:
        params = digest_params('Digest realm="sip.test", nonce="abc", qop="auth,auth-int", algorithm=MD5')
        self.assertEqual(params["realm"], "sip.test")
        self.assertEqual(params["qop"], "auth,auth-int")
        self.assertEqual(params["algorithm"], "MD5")


DESTINATION = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|\*\.[a-z0-9.-]+|[A-Za-z0-9.-]+):(?P<lo>\d+)(?:-(?P<hi>\d+))?$")
"""A constraints entry as SPEC section 7 writes it: a DNS name, an IP literal (IPv6 in brackets) or
``*.suffix``, then a port or a ``lo-hi`` range."""


def covers(entries: list[str], host: str, port: int) -> bool:
    """Whether one of the constraints ``entries`` grants ``host``:``port`` (host as ``parse_servers`` gives it)."""
    for entry in entries:
        match = DESTINATION.match(entry)
        if not match:
            continue
        pattern, lo = match["host"].strip("[]").lower(), int(match["lo"])
        hi = int(match["hi"] or lo)
        wanted = host.lower()
        if pattern.startswith("*."):
            named = wanted == pattern[2:] or wanted.endswith(pattern[1:])  # as the daemon matches a suffix
        else:
            named = wanted == pattern
        if named and lo <= port <= hi:
            return True
    return False


class Templates(unittest.TestCase):
    def test_templates_are_descriptors_whose_packages_resolve_once_copied_to_the_catalogue(self) -> None:
        templates = sorted((CATALOGUE / "templates").glob("*.json"))
        self.assertEqual([t.stem for t in templates], ["irc", "mqtt", "nats", "sip", "xmpp"])
        for template in templates:
            with self.subTest(template.stem):
                descriptor = json.loads(template.read_text())
                self.assertEqual(descriptor["language"], "python")
                self.assertEqual(descriptor["interworking"], template.stem != "nats")
                self.assertTrue((CATALOGUE / descriptor["sourcePackageURL"]).is_file())
                self.assertIsInstance(descriptor["configuration"]["servers"], list)

    def test_template_constraints_grant_the_servers_of_their_own_configuration(self) -> None:
        # the daemon enforces constraints: a template whose servers are not granted has no network
        for template in sorted((CATALOGUE / "templates").glob("*.json")):
            with self.subTest(template.stem):
                descriptor = json.loads(template.read_text())
                constraints, configuration = descriptor["constraints"], descriptor["configuration"]
                self.assertLessEqual(set(constraints), {"connect", "datagram"}, "keys the daemon would ignore")
                for kind, entries in constraints.items():
                    self.assertIsInstance(entries, list, kind)
                    for entry in entries:
                        self.assertRegex(entry, DESTINATION, f"constraints.{kind}")
                transport = str(configuration.get("transport", "tcp")).lower()
                kind = "datagram" if transport == "udp" else "connect"
                for host, port in parse_servers(configuration, 1):
                    self.assertTrue(covers(constraints.get(kind, []), host, port),
                                    f"constraints.{kind} does not grant {host}:{port} of configuration.servers")
                if template.stem == "sip":
                    # the template's transport is TCP, but a copy switched to UDP must work as well
                    for host, port in parse_servers(configuration, 1):
                        self.assertTrue(covers(constraints.get("datagram", []), host, port), f"{host}:{port}")

    def test_the_harness_grants_a_test_exactly_its_servers(self) -> None:
        self.assertEqual(constraints_for({"servers": ["nats://127.0.0.1:4001", "127.0.0.1:4002", "[::1]:4003"]},
                                         ["127.0.0.1:4002", "127.0.0.1:4004"]),
                         {"connect": ["127.0.0.1:4001", "127.0.0.1:4002", "[::1]:4003", "127.0.0.1:4004"]})
        self.assertEqual(constraints_for({"servers": ["127.0.0.1:5070"], "transport": "udp"}),
                         {"datagram": ["127.0.0.1:5070"]})
        self.assertEqual(constraints_for({"servers": ["127.0.0.1:5070"], "transport": "tls"}),
                         {"connect": ["127.0.0.1:5070"]})


if __name__ == "__main__":
    unittest.main()
