"""The reference echo protostub: answers every request with its own body.value.

Every message that has an ``id`` and is not a response gets
``{"code": 200, "desc": "echo from <stubURL>", "value": <body.value or null>}``;
messages without an id and responses are ignored. The runtime places ``rethink_stub.py``
beside this file (see docs/STUBS.md); to run it by hand, put ``stubkit/`` on PYTHONPATH.
"""

import sys

from rethink_stub import ProtoStub


class EchoStub(ProtoStub):
    def on_deploy(self, config: dict, identity: dict) -> None:
        # A stub's stderr is its log: this line reaches the journal under the stub's fields.
        self.log(f"echo stub ready at {self.url}")

    def on_message(self, msg: dict) -> None:
        if msg.get("id") is None or msg.get("type") == "response":
            return
        body = msg.get("body") if isinstance(msg.get("body"), dict) else {}
        self.respond(msg, 200, value=body.get("value"), desc=f"echo from {self.url}")


if __name__ == "__main__":
    sys.exit(EchoStub().run())
