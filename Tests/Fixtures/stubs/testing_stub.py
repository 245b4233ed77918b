"""A protostub whose behaviour the tests choose, to exercise the runtime's failure paths.

Per request: an ``execute`` whose ``body.value`` is an object with an ``action``:

- ``{"action": "crash", "code": 3}``: exit at once with that code, without answering;
- ``{"action": "delay", "ms": 200}``: answer 200 after the delay (other requests keep flowing);
- ``{"action": "silent"}``: never answer;
- ``{"action": "forge-from", "from": <addr>, "to": <addr>}``: emit a ``create`` with that
  forged ``from`` (no id), then answer 200;
- ``{"action": "forge-status", "stub": <otherStubURL>, "value": "dead"}``: emit an ``update``
  to ``<otherStubURL>/status`` (``from`` this stub's URL unless the action gives ``from``),
  then answer 200;
- ``{"action": "emit", "message": {...}}``: write that message as is, then answer 200;
- ``{"action": "log", "lines": ["<3>bad", "plain"]}``: write those lines to stderr, answer 200;
- ``{"action": "status", "value": "disconnected", "desc": "..."}``: report that status,
  answer 200;
- ``{"action": "identity"}``: answer 200 with ``value``: the deploy message's ``body.identity``
  and the stub's environment (``{"identity": {...}, "environment": {...}}``).

Any other request is echoed like the echo stub. At deploy time, from ``body.config``:

- ``{"deploy": "fail"}``: answer the deploy 500 with a ``desc``;
- ``{"deploy": "never-live"}``: answer 200, report ``created`` and ``in-progress``, never ``live``;
- ``{"deploy": "exit"}``: exit 4 before answering;
- ``{"liveDelayMs": N}``: report ``live`` N ms after ``in-progress``;
- ``{"seedStatusForm": true}``: report every status in the seed form
  ``{"id": "1", "type": "UPDATE", "from": <url>, "resource": <url>/status, "body": {"value": "LIVE"}}``.
"""

import os
import sys

from rethink_stub import ProtoStub


class DeployRefused(Exception):
    pass


class TestingStub(ProtoStub):
    auto_live = False

    def __init__(self) -> None:
        super().__init__()
        self.seed_status_form = False
        self.seed_status_ids = 0
        self.identity: dict = {}

    def on_deploy(self, config: dict, identity: dict) -> None:
        self.identity = identity
        self.seed_status_form = config.get("seedStatusForm") is True
        mode = config.get("deploy")
        if mode == "fail":
            raise DeployRefused("configuration asks this deployment to fail (deploy: fail)")
        if mode == "exit":
            sys.stderr.flush()
            os._exit(4)
        if mode == "never-live":
            self.call_later(0, self.report_status, "in-progress")
            return
        delay_ms = config.get("liveDelayMs", 0)
        delay = max(0, delay_ms) / 1000 if isinstance(delay_ms, (int, float)) else 0
        self.call_later(0, self.report_status, "in-progress")
        self.call_later(delay, self.report_status, "live")

    def report_status(self, value: str, desc: str | None = None) -> None:
        if not self.seed_status_form:
            super().report_status(value, desc)
            return
        self.seed_status_ids += 1
        body = {"value": value.upper()}
        if desc is not None:
            body["desc"] = desc
        self.send({"id": str(self.seed_status_ids), "type": "UPDATE", "from": self.url,
                   "resource": self.url + "/status", "body": body})

    def on_message(self, msg: dict) -> None:
        if msg.get("id") is None or msg.get("type") == "response":
            return
        body = msg.get("body") if isinstance(msg.get("body"), dict) else {}
        value = body.get("value")
        action = value.get("action") if msg.get("type") == "execute" and isinstance(value, dict) else None
        if action == "crash":
            sys.stderr.flush()
            os._exit(int(value.get("code", 1)))
        elif action == "delay":
            ms = value.get("ms", 0)
            self.call_later(ms / 1000, self.respond, msg, 200, value, f"delayed {ms} ms")
        elif action == "silent":
            pass
        elif action == "forge-from":
            self.send({"type": "create", "from": value.get("from"), "to": value.get("to"), "body": {}})
            self.respond(msg, 200, desc="forged from sent")
        elif action == "forge-status":
            stub = value.get("stub", "")
            self.send({"type": "update", "from": value.get("from", self.url), "to": stub + "/status",
                       "body": {"value": value.get("value", "dead")}})
            self.respond(msg, 200, desc="forged status sent")
        elif action == "emit":
            self.send(value.get("message"))
            self.respond(msg, 200, desc="message emitted")
        elif action == "log":
            for line in value.get("lines", []):
                os.write(2, (str(line) + "\n").encode("utf-8", "backslashreplace"))
            self.respond(msg, 200, desc="logged")
        elif action == "status":
            self.report_status(value.get("value", "live"), value.get("desc"))
            self.respond(msg, 200, desc="status reported")
        elif action == "identity":
            self.respond(msg, 200, value={"identity": self.identity, "environment": dict(os.environ)})
        else:
            self.respond(msg, 200, value=value, desc=f"echo from {self.url}")


if __name__ == "__main__":
    sys.exit(TestingStub().run())
