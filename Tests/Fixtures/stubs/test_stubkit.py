"""Tests of the stub kit, the echo stubs, the testing stub and the embedded catalogue.

Each stub runs as a real subprocess laid out the way the daemon lays it out (docs/STUBS.md):
a fresh working directory holding the package file and ``rethink_stub.py``, started as
``python3 -E -s -B <package>`` with only the MiniBUS environment.

    /usr/bin/python3 -m unittest discover -s Tests/Fixtures/stubs -p 'test_*.py'

The native echo stub is tested when ``RETHINK_ECHO_STUB_BIN`` names its binary, e.g. built
with ``cc -O2 -Wall -Wextra -I Sources/CRethinkScan/include -o /tmp/rethink-echo-stub
Sources/rethink-echo-stub/main.c Sources/CRethinkScan/CRethinkScan.c``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[3]
KIT = REPO / "stubkit" / "rethink_stub.py"
ECHO_STUB = REPO / "stubkit" / "examples" / "echo_stub.py"
TESTING_STUB = Path(__file__).resolve().parent / "testing_stub.py"
CATALOGUE = REPO / "config" / "catalogue"
NATIVE_BIN = os.environ.get("RETHINK_ECHO_STUB_BIN")

sys.path.insert(0, str(REPO / "stubkit"))
import rethink_network  # noqa: E402

EXTERNAL = "hyperty-runtime://sandbox/external"
INTERNAL = "hyperty-runtime://sandbox/internal"
STUB_URL = "hyperty-runtime://echo.example/protostub/7"
RUNTIME_URL = "hyperty-runtime://localhost/0c9e6a52-0000-4000-8000-000000000001"


class StubProcess:
    """One stub subprocess with a line-oriented view of its stdout and its stderr in a file."""

    def __init__(self, argv: list[str], cwd: str) -> None:
        env = {
            "RETHINK_STUB_URL": STUB_URL,
            "RETHINK_RUNTIME_URL": RUNTIME_URL,
            "RETHINK_DOMAIN": "echo.example",
            "PATH": "/usr/bin:/bin",
            "HOME": cwd,
            "LANG": "C.UTF-8",
        }
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def send(self, msg: dict | str | bytes) -> None:
        if isinstance(msg, dict):
            msg = json.dumps(msg)
        if isinstance(msg, str):
            msg = msg.encode()
        self.proc.stdin.write(msg if msg.endswith(b"\n") else msg + b"\n")
        self.proc.stdin.flush()

    def recv_line(self, timeout: float = 5.0) -> bytes | None:
        """The next stdout line, or None at EOF; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise AssertionError(f"no line from the stub within {timeout} s; stderr:\n{self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def recv(self, timeout: float = 5.0) -> dict:
        line = self.recv_line(timeout)
        if line is None:
            raise AssertionError(f"the stub closed stdout (exit {self.proc.poll()}); stderr:\n{self.stderr()}")
        return json.loads(line)

    def assert_silent(self, seconds: float = 0.3) -> None:
        if b"\n" in self.buffer or self.selector.select(seconds):
            extra = os.read(self.proc.stdout.fileno(), 4096)
            raise AssertionError(f"unexpected output from the stub: {self.buffer + extra!r}")

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def wait(self, timeout: float = 5.0) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.selector.close()
        self.stderr_file.close()


def deploy_message(config: dict | None = None, url: str = STUB_URL) -> dict:
    return {"id": 1, "type": "create", "from": EXTERNAL, "to": INTERNAL,
            "body": {"url": url, "config": {**(config or {}), "runtimeURL": RUNTIME_URL}, "identity": {}}}


def request(msg_id, value=None, kind: str = "execute", with_body: bool = True) -> dict:
    msg = {"id": msg_id, "type": kind, "from": "hyperty://acme.example/alice", "to": "hyperty://echo.example/bob"}
    if with_body:
        msg["body"] = {"value": value}
    return msg


class StubTestCase(unittest.TestCase):
    """Starts a stub per test and kills whatever is left of it afterwards."""

    def start_stub(self) -> StubProcess:
        raise NotImplementedError

    def start_python_stub(self, package: Path) -> StubProcess:
        workdir = tempfile.mkdtemp(prefix="rethink-stub-")
        self.addCleanup(shutil.rmtree, workdir, True)
        shutil.copy(package, workdir)
        shutil.copy(KIT, workdir)
        stub = StubProcess([sys.executable, "-E", "-s", "-B", package.name], cwd=workdir)
        self.addCleanup(stub.kill)
        return stub

    def deploy(self, stub: StubProcess, config: dict | None = None) -> list[str]:
        """Runs the handshake; returns the status values reported up to `live`."""
        stub.send(deploy_message(config))
        answer = stub.recv()
        self.assertEqual(answer, {"id": 1, "type": "response", "from": INTERNAL, "to": EXTERNAL,
                                  "body": {"code": 200}})
        statuses = []
        while not statuses or statuses[-1] != "live":
            update = stub.recv()
            self.assertEqual(update, {"type": "update", "from": STUB_URL, "to": STUB_URL + "/status",
                                      "body": {"value": update["body"]["value"]}})
            statuses.append(update["body"]["value"])
        return statuses

    def expect_echo(self, stub: StubProcess, msg_id, value) -> None:
        self.assertEqual(stub.recv(), {
            "id": msg_id, "type": "response",
            "from": "hyperty://echo.example/bob", "to": "hyperty://acme.example/alice",
            "body": {"code": 200, "desc": f"echo from {STUB_URL}", "value": value}})


class EchoBehaviour:
    """What every echo stub does, whatever its language. Mixed into a StubTestCase."""

    def test_deploy_is_answered_200_and_status_goes_created_then_live(self):
        statuses = self.deploy(self.start_stub())
        self.assertEqual(statuses[0], "created")
        self.assertEqual(statuses[-1], "live")
        self.assertTrue(set(statuses) <= {"created", "in-progress", "live"}, statuses)

    def test_request_is_answered_with_its_id_value_and_swapped_addresses(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send(request(2, {"text": "hi", "list": [1, 2.5, None, True], "s": "\u00e9\"\\\n"}))
        self.expect_echo(stub, 2, {"text": "hi", "list": [1, 2.5, None, True], "s": "\u00e9\"\\\n"})
        stub.send(request("req-3", "plain"))
        self.expect_echo(stub, "req-3", "plain")

    def test_request_without_body_gets_null_value(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send(request(2, with_body=False))
        self.expect_echo(stub, 2, None)

    def test_type_is_accepted_in_any_case(self):
        stub = self.start_stub()
        stub.send({**deploy_message(), "type": "CREATE"})
        self.assertEqual(stub.recv()["body"], {"code": 200})
        while stub.recv()["body"]["value"] != "live":
            pass
        stub.send(request(2, 1, kind="ReAd"))
        self.expect_echo(stub, 2, 1)
        stub.send({**request(3, 1, kind="RESPONSE")})
        stub.send({"type": "DELETE", "from": EXTERNAL, "to": INTERNAL, "body": {"url": STUB_URL}})
        self.assertEqual(stub.wait(), 0)
        self.assertIsNone(stub.recv_line())

    def test_messages_without_id_and_responses_are_not_answered(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send({k: v for k, v in request(None, 1).items() if k != "id"})
        stub.send(request(None, 1))
        stub.send({"id": 9, "type": "response", "from": "hyperty://echo.example/bob", "to": STUB_URL,
                   "body": {"code": 200}})
        stub.send(request(2, "after"))
        self.expect_echo(stub, 2, "after")

    def test_blank_and_non_json_lines_are_skipped_and_logged_as_warnings(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send(b"\n  \r\n")
        stub.send(b"this is not json\n")
        stub.send(b'{"id": 2, "type": "read"\n')
        stub.send(b"[1, 2]\n")
        stub.send(request(3, "ok"))
        self.expect_echo(stub, 3, "ok")
        stub.close_stdin()
        self.assertEqual(stub.wait(), 0)
        self.assertEqual(stub.stderr().count("<4>"), 3, stub.stderr())

    def test_request_before_the_deploy_gets_503(self):
        stub = self.start_stub()
        stub.send(request(5, 1))
        answer = stub.recv()
        self.assertEqual((answer["id"], answer["type"], answer["body"]["code"]), (5, "response", 503))
        self.deploy(stub)

    def test_delete_from_the_runtime_exits_0(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send({"type": "delete", "from": EXTERNAL, "to": INTERNAL, "body": {"url": STUB_URL}})
        self.assertEqual(stub.wait(), 0)
        self.assertIsNone(stub.recv_line())

    def test_end_of_stdin_exits_0(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.close_stdin()
        self.assertEqual(stub.wait(), 0)

    def test_pipelined_requests_are_answered_in_order(self):
        stub = self.start_stub()
        self.deploy(stub)
        count = 2000
        batch = b"".join(json.dumps(request(i, i)).encode() + b"\n" for i in range(count))
        writer = threading.Thread(target=stub.send, args=(batch,))
        writer.start()
        for i in range(count):
            self.assertEqual(stub.recv()["id"], i)
        writer.join()

    def test_a_value_of_one_mebibyte_is_echoed(self):
        stub = self.start_stub()
        self.deploy(stub)
        big = "x" * (1 << 20) + "\u00e9"
        stub.send(request(2, [big]))
        self.expect_echo(stub, 2, [big])


class PythonEchoStubTests(EchoBehaviour, StubTestCase):
    def start_stub(self) -> StubProcess:
        return self.start_python_stub(ECHO_STUB)


class TestingStubEchoTests(EchoBehaviour, StubTestCase):
    def start_stub(self) -> StubProcess:
        return self.start_python_stub(TESTING_STUB)


@unittest.skipUnless(NATIVE_BIN, "set RETHINK_ECHO_STUB_BIN to the native echo stub binary")
class NativeEchoStubTests(EchoBehaviour, StubTestCase):
    def start_stub(self, *args: str) -> StubProcess:
        workdir = tempfile.mkdtemp(prefix="rethink-stub-")
        self.addCleanup(shutil.rmtree, workdir, True)
        stub = StubProcess([NATIVE_BIN, *args], cwd=workdir)
        self.addCleanup(stub.kill)
        return stub

    def test_raw_mode_echoes_every_line_unchanged_without_handshake(self):
        stub = self.start_stub("--raw")
        lines = [b"not json", b"", json.dumps(deploy_message()).encode(), b'{"id":1}']
        stub.send(b"".join(line + b"\n" for line in lines))
        self.assertEqual([stub.recv_line() for _ in lines], lines)
        stub.close_stdin()
        self.assertEqual(stub.wait(), 0)

    def test_a_line_longer_than_the_limit_is_skipped_and_the_next_one_served(self):
        stub = self.start_stub()
        self.deploy(stub)
        huge = json.dumps(request(2, "y" * (9 << 20))).encode() + b"\n"
        writer = threading.Thread(target=stub.send, args=(huge + json.dumps(request(3, "after")).encode(),))
        writer.start()
        self.expect_echo(stub, 3, "after")
        writer.join()
        self.assertIn("<4>", stub.stderr())

    def test_strings_are_scanned_whole_at_every_offset_of_a_sixteen_byte_block(self):
        # The native scan takes sixteen plain bytes at a time: a quote, an escape or a UTF-8 byte at any lane
        # must end the run where it is, and a raw control byte anywhere in a string makes the line not JSON.
        stub = self.start_stub()
        self.deploy(stub)
        msg_id = 10
        for offset in range(40):
            for special in ("\"", "\\", "\u00e9", "\u2603", "/"):
                value = "a" * offset + special + "b" * (37 - offset)
                # Not ensure_ascii: the UTF-8 bytes of é and ☃ reach the stub as they are.
                stub.send(json.dumps(request(msg_id, value), ensure_ascii=False).encode())
                self.expect_echo(stub, msg_id, value)
                msg_id += 1
            line = json.dumps(request(msg_id, "a" * offset + "\x01" + "b" * 20)).encode()
            # json.dumps escapes the control byte; write it raw so that the string holds it as is.
            stub.send(line.replace(b"\\u0001", b"\x01"))
            stub.send(request(msg_id + 1, "next"))
            self.expect_echo(stub, msg_id + 1, "next")
            msg_id += 2

    def test_escaped_keys_and_type_are_understood(self):
        stub = self.start_stub()
        self.deploy(stub)
        stub.send(b'{"\\u0069d": 4, "type": "\\u0065xecute", "from": "hyperty://acme.example/alice",'
                  b' "to": "hyperty://echo.example/bob", "body": {"x": {"value": 0}, "value": [1e3, -0.5]}}')
        self.expect_echo(stub, 4, [1e3, -0.5])


class TestingStubTests(StubTestCase):
    def start_stub(self, config: dict | None = None, live: bool = True) -> StubProcess:
        stub = self.start_python_stub(TESTING_STUB)
        if live:
            self.assertEqual(self.deploy(stub, config), ["created", "in-progress", "live"])
        return stub

    def answer_of(self, stub: StubProcess, msg_id) -> dict:
        answer = stub.recv()
        self.assertEqual((answer["id"], answer["type"]), (msg_id, "response"), answer)
        return answer

    def test_crash_exits_with_the_code_without_answering(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "crash", "code": 3}))
        self.assertEqual(stub.wait(), 3)
        self.assertIsNone(stub.recv_line())

    def test_delay_answers_later_while_other_requests_flow(self):
        stub = self.start_stub()
        started = time.monotonic()
        stub.send(request(2, {"action": "delay", "ms": 300}))
        stub.send(request(3, "quick"))
        self.expect_echo(stub, 3, "quick")
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.29)

    def test_silent_never_answers(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "silent"}))
        stub.assert_silent(0.3)
        stub.send(request(3, "next"))
        self.expect_echo(stub, 3, "next")

    def test_forge_from_emits_a_create_with_that_from_then_answers(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "forge-from", "from": "hyperty://other.example/x",
                              "to": "hyperty://acme.example/alice"}))
        forged = stub.recv()
        self.assertEqual((forged["type"], forged["from"], forged["to"]),
                         ("create", "hyperty://other.example/x", "hyperty://acme.example/alice"))
        self.assertNotIn("id", forged)
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)

    def test_forge_status_updates_another_stubs_status_then_answers(self):
        stub = self.start_stub()
        other = "hyperty-runtime://beta.example/protostub/2"
        stub.send(request(2, {"action": "forge-status", "stub": other, "value": "dead"}))
        self.assertEqual(stub.recv(), {"type": "update", "from": STUB_URL, "to": other + "/status",
                                       "body": {"value": "dead"}})
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)

    def test_emit_writes_the_message_as_is_then_answers(self):
        stub = self.start_stub()
        message = {"id": "x", "type": "READ", "from": STUB_URL, "to": "hyperty://acme.example/alice", "extra": [1]}
        stub.send(request(2, {"action": "emit", "message": message}))
        self.assertEqual(stub.recv(), message)
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)

    def test_log_writes_the_lines_to_stderr_then_answers(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "log", "lines": ["<3>bad", "plain"]}))
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)
        self.assertIn("\n<3>bad\nplain\n", "\n" + stub.stderr())

    def test_status_reports_the_value_and_desc_then_answers(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "status", "value": "disconnected", "desc": "network down"}))
        self.assertEqual(stub.recv(), {"type": "update", "from": STUB_URL, "to": STUB_URL + "/status",
                                       "body": {"value": "disconnected", "desc": "network down"}})
        self.assertEqual(self.answer_of(stub, 2)["body"]["code"], 200)

    def test_an_action_in_a_request_other_than_execute_is_echoed(self):
        stub = self.start_stub()
        stub.send(request(2, {"action": "crash", "code": 3}, kind="update"))
        self.expect_echo(stub, 2, {"action": "crash", "code": 3})

    def test_deploy_fail_answers_500_with_desc_and_reports_no_status(self):
        stub = self.start_stub(live=False)
        stub.send(deploy_message({"deploy": "fail"}))
        answer = stub.recv()
        self.assertEqual((answer["id"], answer["from"], answer["to"], answer["body"]["code"]),
                         (1, INTERNAL, EXTERNAL, 500))
        self.assertIn("deploy: fail", answer["body"]["desc"])
        stub.assert_silent(0.3)
        self.assertIn("<3>", stub.stderr())

    def test_deploy_never_live_stops_at_in_progress(self):
        stub = self.start_stub(live=False)
        stub.send(deploy_message({"deploy": "never-live"}))
        self.assertEqual(stub.recv()["body"], {"code": 200})
        self.assertEqual([stub.recv()["body"]["value"] for _ in range(2)], ["created", "in-progress"])
        stub.assert_silent(0.5)

    def test_deploy_exit_exits_4_before_answering(self):
        stub = self.start_stub(live=False)
        stub.send(deploy_message({"deploy": "exit"}))
        self.assertEqual(stub.wait(), 4)
        self.assertIsNone(stub.recv_line())

    def test_live_delay_reports_live_after_the_delay(self):
        stub = self.start_stub(live=False)
        started = time.monotonic()
        self.assertEqual(self.deploy(stub, {"liveDelayMs": 300}), ["created", "in-progress", "live"])
        self.assertGreaterEqual(time.monotonic() - started, 0.29)

    def test_seed_status_form_reports_uppercase_with_resource(self):
        stub = self.start_stub(live=False)
        stub.send(deploy_message({"seedStatusForm": True}))
        self.assertEqual(stub.recv()["body"], {"code": 200})
        updates = [stub.recv() for _ in range(3)]
        self.assertEqual([u["body"]["value"] for u in updates], ["CREATED", "IN-PROGRESS", "LIVE"])
        for u in updates:
            self.assertEqual((u["type"], u["from"], u["resource"]), ("UPDATE", STUB_URL, STUB_URL + "/status"))
            self.assertIsInstance(u["id"], str)
            self.assertNotIn("to", u)


class CatalogueTests(unittest.TestCase):
    def descriptors(self) -> dict[str, dict]:
        return {p.stem: json.loads(p.read_text()) for p in sorted(CATALOGUE.glob("*.json"))}

    def test_catalogue_ships_the_three_example_domains(self):
        self.assertEqual(set(self.descriptors()), {"echo.example", "beta.example", "native.example"})

    def test_descriptors_have_the_protostub_descriptor_fields(self):
        for key, d in self.descriptors().items():
            with self.subTest(key):
                for field, kind in [("objectName", str), ("version", str), ("description", str), ("language", str),
                                    ("sourcePackageURL", str), ("configuration", dict), ("constraints", dict),
                                    ("interworking", bool)]:
                    self.assertIsInstance(d.get(field), kind, field)
                self.assertIn(d["language"], {"python", "executable"})
                self.assertFalse(os.path.isabs(d["sourcePackageURL"]))
                self.assertNotIn("..", Path(d["sourcePackageURL"]).parts)

    def test_python_packages_resolve_inside_the_catalogue_and_the_kit_sits_beside_them(self):
        for key, d in self.descriptors().items():
            if d["language"] == "python":
                with self.subTest(key):
                    package = CATALOGUE / d["sourcePackageURL"]
                    self.assertTrue(package.is_file(), package)
                    self.assertEqual((package.parent / "rethink_stub.py").read_bytes(), KIT.read_bytes())

    def test_native_descriptor_names_the_native_stub_binary(self):
        self.assertEqual(self.descriptors()["native.example"]["sourcePackageURL"], "rethink-echo-stub")


class TLSContextTests(unittest.TestCase):
    """configuration.tls.caPem (the PEM text the runtime passes, since a confined stub cannot open a caFile
    outside its package) against caFile (still read where the stub can)."""

    NAME = "ca.test"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="stubkit-tls-")
        cls.cert, cls.key = os.path.join(cls.dir, "ca.crt"), os.path.join(cls.dir, "ca.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", f"/CN={cls.NAME}", "-addext",
                        f"subjectAltName=DNS:{cls.NAME}", "-keyout", cls.key, "-out", cls.cert],
                       check=True, capture_output=True, timeout=20)
        cls.pem = Path(cls.cert).read_text()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def subjects(self, context: ssl.SSLContext) -> list:
        return [dict(rdn[0] for rdn in ca["subject"]).get("commonName") for ca in context.get_ca_certs()]

    def handshake(self, client: ssl.SSLContext) -> None:
        """A real TLS handshake over a socket pair against a server presenting the throwaway certificate."""
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(self.cert, self.key)
        ours, theirs = socket.socketpair()
        failure: list[BaseException] = []

        def serve():
            try:
                with server.wrap_socket(theirs, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as error:
                failure.append(error)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with client.wrap_socket(ours, server_hostname=self.NAME) as tls:
                self.assertEqual(tls.recv(2), b"ok")
        finally:
            thread.join(10)
        self.assertEqual(failure, [])

    def unreadable(self) -> str:
        """A CA file the stub cannot open, as Landlock makes one outside the package (EACCES)."""
        descriptor, path = tempfile.mkstemp(suffix=".crt", dir=self.dir)
        with os.fdopen(descriptor, "w") as file:
            file.write(self.pem)
        os.chmod(path, 0)
        return path

    def deny_open(self, path: str):
        """Root reads a mode-0 file anyway: then refuse it the way the sandbox does."""
        if os.access(path, os.R_OK):
            real = ssl.SSLContext.load_verify_locations

            def refuse(context, cafile=None, capath=None, cadata=None):
                if cafile == path:
                    raise PermissionError(13, "Permission denied", path)
                return real(context, cafile, capath, cadata)
            return mock.patch.object(ssl.SSLContext, "load_verify_locations", refuse)
        return contextlib.nullcontext()

    def test_no_tls_setting_means_no_context(self):
        self.assertIsNone(rethink_network.tls_context(None))
        self.assertIsNone(rethink_network.tls_context(False))

    def test_ca_pem_is_loaded_as_cadata_and_trusts_the_server(self):
        context = rethink_network.tls_context({"caPem": self.pem})
        self.assertIn(self.NAME, self.subjects(context))
        self.handshake(context)

    def test_ca_file_still_works_where_the_stub_can_read_it(self):
        context = rethink_network.tls_context({"caFile": self.cert})
        self.assertIn(self.NAME, self.subjects(context))
        self.handshake(context)

    def test_ca_pem_wins_over_an_unreadable_ca_file(self):
        path = self.unreadable()
        with self.deny_open(path):
            context = rethink_network.tls_context({"caPem": self.pem, "caFile": path})
        self.assertIn(self.NAME, self.subjects(context))

    def test_unreadable_ca_file_without_ca_pem_fails_the_deploy_with_what_to_do(self):
        path = self.unreadable()
        with self.deny_open(path), self.assertRaises(ValueError) as raised:
            rethink_network.tls_context({"caFile": path})
        message = str(raised.exception)
        for part in (path, "cannot be read by the stub", "sandbox", "configuration.tls.caPem", "local catalogue",
                     "package"):
            self.assertIn(part, message)

    def test_malformed_ca_pem_or_missing_ca_file_is_a_configuration_error(self):
        for setting in ({"caPem": "not a certificate"}, {"caPem": ""}, {"caPem": 42},
                        {"caFile": os.path.join(self.dir, "absent.crt")}, "yes"):
            with self.subTest(setting=setting), self.assertRaises(ValueError) as raised:
                rethink_network.tls_context(setting)
            self.assertIn("configuration.tls", str(raised.exception))

    def test_verify_false_turns_checks_off_with_ca_pem_too(self):
        context = rethink_network.tls_context({"caPem": self.pem, "verify": False})
        self.assertEqual(context.verify_mode, ssl.CERT_NONE)
        self.assertFalse(context.check_hostname)


if __name__ == "__main__":
    unittest.main()
