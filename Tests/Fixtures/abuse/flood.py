"""Floods a rethink-runtimed client socket with requests and counts every final answer by code.

    flood.py SOCKET TARGET COUNT WINDOW

TARGET is a domain (every request goes to hyperty://TARGET/x) or ``unknown`` (request i goes to
hyperty://u<i>.example/x, a domain nobody publishes). At most WINDOW requests are unanswered at a time; the
answers are read on a thread of their own, so the flood never stops reading. Prints one JSON line:
``{"sent", "answered", "duplicates", "seconds", "codes": {code: count}}``.
"""

import json
import socket
import sys
import threading
import time


def main() -> None:
    path, target, count, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    connection = socket.socket(socket.AF_UNIX)
    connection.connect(path)
    greeting = b""
    while not greeting.endswith(b"\n"):
        greeting += connection.recv(1)
    state = {"answered": 0, "duplicates": 0, "codes": {}, "seen": bytearray(count)}
    progress = threading.Condition()

    def read_answers() -> None:
        pending = b""
        while state["answered"] < count:
            chunk = connection.recv(1 << 16)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message.get("type") != "response" or not isinstance(message.get("id"), int):
                    continue
                code = str((message.get("body") or {}).get("code", 200))
                with progress:
                    if state["seen"][message["id"]]:
                        state["duplicates"] += 1
                        continue
                    state["seen"][message["id"]] = 1
                    state["codes"][code] = state["codes"].get(code, 0) + 1
                    state["answered"] += 1
                    progress.notify()

    reader = threading.Thread(target=read_answers)
    reader.start()
    sent, started = 0, time.monotonic()
    while sent < count:
        with progress:
            while sent - state["answered"] >= window:
                progress.wait()
            room = window - (sent - state["answered"])
        batch = min(room, count - sent, 500)
        if target == "unknown":
            lines = (b'{"id":%d,"type":"read","to":"hyperty://u%d.example/x"}\n' % (i, i) for i in range(sent, sent + batch))
        else:
            lines = (b'{"id":%d,"type":"read","to":"hyperty://%s/x"}\n' % (i, target.encode()) for i in range(sent, sent + batch))
        connection.sendall(b"".join(lines))
        sent += batch
    reader.join()
    print(json.dumps({
        "sent": sent, "answered": state["answered"], "duplicates": state["duplicates"],
        "seconds": round(time.monotonic() - started, 1), "codes": state["codes"],
    }))


if __name__ == "__main__":
    main()
