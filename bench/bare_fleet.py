"""The floor of a fleet: plain paho clients on one selector that CONNECT and SUBSCRIBE to their cmd topic, nothing
else (and, asked to, answer each command with a `received`). The baseline of bench/simulator.py and
bench/province.py.

Run as one shard of a big fleet (bench/province.py starts these; the imports are kept light, so that the memory
measured is the clients'):
  .venv/bin/python bench/bare_fleet.py --broker mqtt://127.0.0.1:PORT --credentials CSV --shard K/N \
      [--cids FILE] [--bind-address 127.0.1.2] [--answer]
It prints one JSON line once every client has its SUBACK ({"seconds", "subscribed", "rss_mb"}), then serves until
its standard input closes.
"""

import argparse
import collections
import csv
import json
import os
import resource
import selectors
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

DEFAULT_ROOT = "pa/v1"  # pa_protocol.DEFAULT_ROOT and its topics(), not imported: the signing modules would weigh
# on the memory measured
TIMEOUT_S = 600.0
MISC_PERIOD_S = 1.0
WINDOW = 64  # clients between TCP connect and CONNACK at once, below Mosquitto's listen backlog of 100
SPARE_FDS = 256


def rss_mb() -> float:
    """Return this process's resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class BareLoop:
    """Bring `cids` online with plain paho clients on one selector: CONNECT, SUBSCRIBE to the cmd topic.

    At most `window` clients wait for their CONNACK at once, so the connects never outrun the broker's
    accept queue (Mosquitto listens with a backlog of 100): a dropped SYN would stall the loop for
    the 1 s of its retransmit, and the floor would measure the stall instead of the work. With `answer`,
    each client publishes a `received` (QoS 1) for every command, reading nothing of it but its id.
    """

    def __init__(self, url: str, passwords: dict[str, str], *, bind_address: str = "", root: str = DEFAULT_ROOT,
                 keepalive: int = 30, window: int = WINDOW, answer: bool = False):
        host, port = url.removeprefix("mqtt://").split(":")
        self.host, self.port = host, int(port)
        self.passwords = passwords  # each client logs in as its cluster, as the simulator's do
        self.cids = list(passwords)
        self.bind_address, self.root, self.keepalive, self.window = bind_address, root, keepalive, window
        self.answer = answer
        self.selector = selectors.DefaultSelector()
        self.clients: list[mqtt.Client] = []
        self.subscribed = 0
        self.awaiting_connack = 0
        self._next_misc = time.monotonic() + MISC_PERIOD_S

    def run(self) -> int:
        """Connect every client, serving sockets meanwhile, until all have their SUBACK; return how many do."""
        waiting = collections.deque(self.cids)
        deadline = time.monotonic() + TIMEOUT_S
        while self.subscribed < len(self.cids) and time.monotonic() < deadline:
            while waiting and self.awaiting_connack < self.window:
                self._connect(waiting.popleft())
            self._turn(0 if waiting and self.awaiting_connack < self.window else MISC_PERIOD_S)
        return self.subscribed

    def serve(self, stop: threading.Event) -> None:
        """Serve every client until `stop` is set."""
        while not stop.is_set():
            self._turn(0.2)

    def _turn(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            self._serve(key, mask)
        if time.monotonic() >= self._next_misc:
            self._next_misc += MISC_PERIOD_S
            for client in self.clients:
                client.loop_misc()

    def _connect(self, cid: str) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        if self.answer:
            client.on_message = self._on_message
        client.user_data_set(cid)
        client.username_pw_set(cid, self.passwords[cid])
        # TCP connect, then CONNECT written at once
        client.connect(self.host, self.port, keepalive=self.keepalive, bind_address=self.bind_address)
        self.awaiting_connack += 1
        self.selector.register(client.socket(), self._wanted(client), client)
        self.clients.append(client)

    def _on_connect(self, client, cid, flags, reason_code, properties) -> None:
        self.awaiting_connack -= 1
        client.subscribe(f"{self.root}/clusters/{cid}/cmd", qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed += 1

    def _on_message(self, client, cid, message) -> None:
        answer = {"v": 1, "cid": cid, "cmd_id": json.loads(message.payload)["id"], "state": "received"}
        client.publish(f"{self.root}/clusters/{cid}/events", json.dumps(answer), qos=1)  # written as _serve asks next

    @staticmethod
    def _wanted(client: mqtt.Client) -> int:
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if client.want_write() else 0)

    def _serve(self, key: selectors.SelectorKey, mask: int) -> None:
        client = key.data
        if mask & selectors.EVENT_READ:
            client.loop_read()
        if mask & selectors.EVENT_WRITE:
            client.loop_write()
        wanted = self._wanted(client)
        if wanted != key.events and client.socket() is not None:
            self.selector.modify(key.fileobj, wanted, client)


def read_shard(path: str, shard: str, only: str | None) -> dict[str, str]:
    """Every Nth cluster's password from a `cid,password` CSV, starting with the Kth (K/N); with `only`, a file of
    cluster ids (one a line), those clusters'."""
    index, count = map(int, shard.split("/"))
    with open(path, newline="") as rows:
        passwords = {row["cid"]: row["password"] for row in csv.DictReader(rows)}
    if only is not None:
        return {cid: passwords[cid] for cid in Path(only).read_text().split()}
    return dict(list(passwords.items())[index::count])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="mqtt://host:port")
    parser.add_argument("--credentials", required=True, help="CSV of cid,password (every cluster's login)")
    parser.add_argument("--shard", default="0/1", help="K/N: every Nth cluster, starting with the Kth")
    parser.add_argument("--cids", help="a file of the cluster ids to connect, one a line (instead of --shard)")
    parser.add_argument("--bind-address", default="", help="local address to connect from")
    parser.add_argument("--keepalive", type=int, default=30)
    parser.add_argument("--window", type=int, default=WINDOW, help="clients awaiting their CONNACK at most")
    parser.add_argument("--answer", action="store_true", help="answer every command with a `received`")
    args = parser.parse_args()
    passwords = read_shard(args.credentials, args.shard, args.cids)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, len(passwords) + SPARE_FDS), hard), hard))
    loop = BareLoop(args.broker, passwords, bind_address=args.bind_address, keepalive=args.keepalive,
                    window=args.window, answer=args.answer)
    began = time.monotonic()
    subscribed = loop.run()
    print(json.dumps({"seconds": time.monotonic() - began, "subscribed": subscribed, "rss_mb": rss_mb()}), flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    loop.serve(stop)
    os._exit(0)  # the broker closes the connections first; nothing to tidy


if __name__ == "__main__":
    sys.exit(main())
