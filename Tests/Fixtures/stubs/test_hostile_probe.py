"""Tests of the hostile probe stub's own logic, without a sandbox: only probes that are harmless
unconfined run here (on temporary files, sockets the test owns, its own process), so that a sandbox
test's "refused" means the sandbox refused, not that the probe was broken.

    cd Tests/Fixtures/stubs && /usr/bin/python3 -m unittest -q test_hostile_probe
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

sys.dont_write_bytecode = True  # no __pycache__ beside the stubs
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[2] / "stubkit"), str(HERE)]

import hostile_probe  # noqa: E402
import test_stubkit as kit  # noqa: E402
from hostile_probe import HostileProbe, Probe  # noqa: E402

PROBE_STUB = HERE / "hostile_probe.py"


class ProbeLogic(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="rethink-probe-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.probe = Probe()

    def run_probe(self, attack: str, **args) -> dict:
        result = self.probe.run(attack, args)
        self.assertEqual(set(result), {"attack", "outcome", "errno", "detail"})
        self.assertEqual(result["attack"], attack)
        self.assertIsInstance(result["detail"], str)
        return result

    def assertOutcome(self, result: dict, outcome: str, error: str | None = None) -> None:
        self.assertEqual((result["outcome"], result["errno"]), (outcome, error), result)

    def test_whoami_reports_ids_capabilities_and_cwd_as_a_json_string(self) -> None:
        result = self.run_probe("whoami")
        self.assertOutcome(result, "refused")
        me = json.loads(result["detail"])
        self.assertEqual((me["uid"], me["euid"], me["gid"]), (os.getuid(), os.geteuid(), os.getgid()))
        self.assertEqual(me["cwd"], os.getcwd())
        self.assertEqual(me["ppid"], os.getppid())
        for key in ("CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
            self.assertIn(key, me)
        self.assertIsInstance(me["groups"], list)

    def test_env_names_the_extra_variables_but_never_their_values(self) -> None:
        clean = {"PATH": "/usr/bin", "HOME": self.dir, "LANG": "C.UTF-8", "PYTHONPATH": "x",
                 "RETHINK_STUB_URL": "u", "RETHINK_RUNTIME_URL": "r", "RETHINK_DOMAIN": "d"}
        with mock.patch.dict(os.environ, clean, clear=True):
            self.assertOutcome(self.run_probe("env"), "refused")
        with mock.patch.dict(os.environ, dict(clean, DAEMON_SECRET="hunter2"), clear=True):
            result = self.run_probe("env")
        self.assertOutcome(result, "allowed")
        self.assertIn("DAEMON_SECRET", result["detail"])
        self.assertNotIn("hunter2", result["detail"])

    def test_list_dir_lists_a_directory_and_reports_enoent_for_a_missing_one(self) -> None:
        Path(self.dir, "planted").write_text("x")
        result = self.run_probe("list-dir", path=self.dir)
        self.assertOutcome(result, "allowed")
        self.assertIn("planted", result["detail"])
        self.assertOutcome(self.run_probe("list-dir", path=os.path.join(self.dir, "none")), "refused", "ENOENT")

    def test_write_file_writes_text_or_base64_and_read_file_reads_it_back(self) -> None:
        path = os.path.join(self.dir, "cache", "abc", "main.py")
        self.assertOutcome(self.run_probe("write-file", path=path, content="print(1)\n", makedirs=True), "allowed")
        self.assertEqual(Path(path).read_text(), "print(1)\n")
        blob = bytes(range(256))
        self.assertOutcome(self.run_probe("write-file", path=path, content=base64.b64encode(blob).decode(),
                                          encoding="base64"), "allowed")
        self.assertEqual(Path(path).read_bytes(), blob)
        self.assertOutcome(self.run_probe("read-file", path=path), "allowed")

    def test_write_file_into_a_missing_directory_is_refused_with_enoent(self) -> None:
        path = os.path.join(self.dir, "missing", "file")
        self.assertOutcome(self.run_probe("write-file", path=path, content="x"), "refused", "ENOENT")

    def test_read_file_of_a_missing_path_is_refused_with_enoent(self) -> None:
        result = self.run_probe("read-file", path=os.path.join(self.dir, "shadow"))
        self.assertOutcome(result, "refused", "ENOENT")
        self.assertIn("shadow", result["detail"])

    def test_open_exec_and_dev_open_without_executing_or_writing(self) -> None:
        self.assertOutcome(self.run_probe("open-exec", path=sys.executable), "allowed")
        self.assertOutcome(self.run_probe("dev", path="/dev/null"), "allowed")
        self.assertOutcome(self.run_probe("dev", path=os.path.join(self.dir, "kvm")), "refused", "ENOENT")

    def test_proc_probes_on_the_test_process_itself(self) -> None:
        pid = os.getpid()
        self.assertOutcome(self.run_probe("proc-mem", pid=pid), "allowed")
        result = self.run_probe("proc-read", pid=pid, file="status")
        self.assertOutcome(result, "allowed")
        self.assertIn("Name:", result["detail"])
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        self.addCleanup(os.close, writer)
        self.assertOutcome(self.run_probe("proc-fd", pid=pid, fd=reader), "allowed")
        self.assertOutcome(self.run_probe("proc-read", pid=pid, file="no-such-entry"), "refused", "ENOENT")

    def test_connect_tcp_to_a_listener_is_allowed_and_to_a_closed_port_refused(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            self.assertOutcome(self.run_probe("connect-tcp", host="127.0.0.1", port=port), "allowed")
        result = self.run_probe("connect-tcp", host="127.0.0.1", port=port)
        self.assertOutcome(result, "refused", "ECONNREFUSED")
        self.assertIn(f"127.0.0.1:{port}", result["detail"])

    def test_udp_probes_send_and_wait_for_a_reply_only_when_asked(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            port = peer.getsockname()[1]
            self.assertOutcome(self.run_probe("send-udp", host="127.0.0.1", port=port), "allowed")
            self.assertEqual(peer.recvfrom(64)[0], b"probe")
            self.assertOutcome(self.run_probe("send-udp", host="127.0.0.1", port=port, expect_reply=True),
                               "refused", "ETIMEDOUT")
            self.assertEqual(peer.recvfrom(64)[0], b"probe")  # sent, though nobody answered

            def answer() -> None:
                data, sender = peer.recvfrom(64)
                peer.sendto(b"re: " + data, sender)

            echo = threading.Thread(target=answer)
            echo.start()
            result = self.run_probe("connect-udp", host="127.0.0.1", port=port, expect_reply=True, payload="x")
            echo.join(5)
            self.assertOutcome(result, "allowed")
            self.assertIn("5-byte reply", result["detail"])

    def test_unix_and_abstract_sockets_that_listen_are_reached(self) -> None:
        path = os.path.join(self.dir, "client.sock")
        name = f"rethink-probe-test-{os.getpid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as pathname, \
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as abstract:
            pathname.bind(path)
            pathname.listen()
            abstract.bind("\0" + name)
            abstract.listen()
            self.assertOutcome(self.run_probe("unix-connect", path=path), "allowed")
            self.assertOutcome(self.run_probe("abstract-connect", name=name), "allowed")
        self.assertOutcome(self.run_probe("unix-connect", path=path + ".none"), "refused", "ENOENT")
        self.assertOutcome(self.run_probe("abstract-connect", name=name + "-none"), "refused", "ECONNREFUSED")

    def test_raw_socket_reports_each_kind(self) -> None:
        result = self.run_probe("raw-socket")
        for kind in ("inet-raw-icmp", "packet-raw", "inet-sock-packet"):
            self.assertIn(kind, result["detail"])
        # unconfined, root makes them all and others none: either way the outcome matches the detail
        self.assertEqual(result["outcome"] == "allowed", "made" in result["detail"], result)

    def test_signal_0_to_itself_is_allowed_and_to_no_process_refused(self) -> None:
        self.assertOutcome(self.run_probe("signal", pid=os.getpid()), "allowed")
        self.assertOutcome(self.run_probe("signal", pid=2 ** 22 + 1), "refused", "ESRCH")

    def test_threads_memory_and_disk_within_small_bounds_are_allowed_and_cleaned_up(self) -> None:
        before = threading.active_count()
        result = self.run_probe("threads", count=40)
        self.assertOutcome(result, "allowed")
        self.assertEqual(result["detail"], "started 40 of 40 threads")
        self.assertEqual(threading.active_count(), before)
        self.assertOutcome(self.run_probe("memory", mib=40), "allowed")
        path = os.path.join(self.dir, "fill")
        self.assertOutcome(self.run_probe("disk", mib=3, path=path), "allowed")
        self.assertFalse(os.path.exists(path))

    def test_disk_and_setuid_default_to_the_working_directory(self) -> None:
        cwd = os.getcwd()
        os.chdir(self.dir)
        self.addCleanup(os.chdir, cwd)
        self.assertOutcome(self.run_probe("disk", mib=1), "allowed")
        self.assertOutcome(self.run_probe("setuid-file"), "allowed")  # unconfined, open() sets S_ISUID
        self.assertEqual(os.listdir(self.dir), [])

    def test_bad_arguments_raise_for_a_400(self) -> None:
        for attack, args in (("proc-mem", {"pid": "daemon"}), ("read-file", {}), ("connect-tcp", {"host": "h"}),
                             ("inject", {"message": "not an object"}), ("subscribe", {"address": "a"})):
            with self.subTest(attack), self.assertRaises(hostile_probe.ProbeArgumentError):
                self.probe.run(attack, args)

    def test_requests_are_parsed_from_the_body_or_its_value(self) -> None:
        self.assertEqual(hostile_probe.parse_request({"attack": "env"}), ("env", {}))
        self.assertEqual(hostile_probe.parse_request({"value": {"attack": "dev", "args": {"path": "/x"}}}),
                         ("dev", {"path": "/x"}))
        self.assertIsNone(hostile_probe.parse_request({"value": {"text": "hi"}}))
        with self.assertRaises(hostile_probe.ProbeArgumentError):
            hostile_probe.parse_request({"attack": "env", "args": [1]})


class Dispatch(unittest.TestCase):
    """``HostileProbe.answer``: the code, value and desc of each kind of request."""

    def setUp(self) -> None:
        self.stub = HostileProbe()
        self.stub.url = kit.STUB_URL
        self.sent: list[dict] = []
        self.stub.send = self.sent.append  # type: ignore[method-assign]

    def answer(self, body: dict, kind: str = "execute") -> tuple:
        return self.stub.answer({"id": 1, "type": kind, "from": "a://x/y", "to": "b://z/w", "body": body})

    def test_an_attack_is_answered_200_with_its_outcome(self) -> None:
        code, value, _ = self.answer({"attack": "whoami"})
        self.assertEqual(code, 200)
        self.assertEqual((value["attack"], value["outcome"]), ("whoami", "refused"))

    def test_unknown_attacks_and_bad_arguments_are_answered_400(self) -> None:
        code, _, desc = self.answer({"attack": "exec", "args": {"path": "/bin/sh"}})
        self.assertEqual(code, 400)
        self.assertIn("open-exec", desc)
        self.assertEqual(self.answer({"attack": "read-file"})[0], 400)
        self.assertEqual(self.answer({"attack": 7})[0], 400)

    def test_a_probe_that_crashes_is_answered_500_with_the_exception(self) -> None:
        with mock.patch.dict(self.stub.probe.attacks, {"whoami": lambda args: 1 / 0}):
            code, value, desc = self.answer({"attack": "whoami"})
        self.assertEqual(code, 500)
        self.assertEqual(value["outcome"], "error")
        self.assertIn("ZeroDivisionError", desc)

    def test_other_requests_are_echoed(self) -> None:
        self.assertEqual(self.answer({"value": {"text": "hi"}}, kind="create")[:2], (200, {"text": "hi"}))
        self.assertEqual(self.answer({"value": {"attack": "env"}}, kind="read")[:2], (200, {"attack": "env"}))

    def test_subscribe_and_inject_emit_on_the_minibus(self) -> None:
        code, value, _ = self.answer({"attack": "subscribe", "args": {"address": "hyperty://beta.example/bob",
                                                                        "domain": "beta.example"}})
        self.assertEqual((code, value["outcome"]), (200, "sent"))
        message = {"type": "create", "from": "hyperty-runtime://localhost/x/client/1", "to": "hyperty://a/b"}
        self.assertEqual(self.answer({"attack": "inject", "args": {"message": message}})[1]["outcome"], "sent")
        self.assertEqual(self.sent, [
            {"type": "subscribe", "from": kit.STUB_URL, "to": "domain://msg-node.beta.example/sm",
             "body": {"subscribe": ["hyperty://beta.example/bob"]}},
            message])


class ProbeOverTheMiniBus(kit.StubTestCase):
    """The probe as a real stub process, laid out as the daemon lays it out."""

    def test_it_goes_live_answers_attacks_and_emits_bus_attacks(self) -> None:
        stub = self.start_python_stub(PROBE_STUB)
        self.assertEqual(self.deploy(stub), ["created", "in-progress", "live"])
        stub.send({"id": 2, "type": "execute", "from": "hyperty://acme.example/alice",
                   "to": "hyperty://echo.example/bob", "body": {"attack": "whoami"}})
        answer = stub.recv()
        self.assertEqual((answer["id"], answer["type"], answer["body"]["code"]), (2, "response", 200))
        self.assertEqual(answer["to"], "hyperty://acme.example/alice")
        value = answer["body"]["value"]
        self.assertEqual(set(value), {"attack", "outcome", "errno", "detail"})
        self.assertEqual(json.loads(value["detail"])["pid"], stub.proc.pid)

        stub.send({"id": 3, "type": "execute", "from": "hyperty://acme.example/alice",
                   "to": "hyperty://echo.example/bob", "body": {"attack": "env"}})
        self.assertEqual(stub.recv()["body"]["value"]["outcome"], "refused")  # StubProcess's environment only

        target = {"type": "subscribe", "from": kit.STUB_URL, "to": "domain://msg-node.beta.example/sm",
                  "body": {"subscribe": ["hyperty://beta.example/bob"]}}
        stub.send({"id": 4, "type": "execute", "from": "hyperty://acme.example/alice",
                   "to": "hyperty://echo.example/bob",
                   "body": {"attack": "subscribe", "args": {"address": "hyperty://beta.example/bob",
                                                            "domain": "beta.example"}}})
        self.assertEqual(stub.recv(), target)
        self.assertEqual(stub.recv()["body"]["value"]["outcome"], "sent")

        stub.send({"id": 5, "type": "execute", "from": "hyperty://acme.example/alice",
                   "to": "hyperty://echo.example/bob", "body": {"attack": "no-such"}})
        self.assertEqual(stub.recv()["body"]["code"], 400)
        stub.close_stdin()
        self.assertEqual(stub.wait(), 0)


if __name__ == "__main__":
    unittest.main()
