#!/usr/bin/python3
"""Publishes a shared/peers line-protocol file to vigild through an MQTT broker, as JSON batches
(the same batches bench/http_write_load.py --format json POSTs: one time step x --batch
consecutive sensors, worker w owning blocks b % W == w, writing as gateway gw-lp-group-w), and
waits for vigild's answer to every batch on the gateways' ack topics (docs/mqtt-ingest.md), which
vigild publishes once the batch is durable. Each worker publishes at QoS 1 on its own connection
and keeps at most --window batches unanswered. Prints `name value unit` lines. Needs Debian's
python3-paho-mqtt (run with /usr/bin/python3). Loopback only; bounded by --deadline-s.
"""
import argparse
import json
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_write_load import json_batch, report, run_timed  # noqa: E402 (the HTTP path's)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--peers", required=True, help="shared/peers folder (its loader.py)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--broker", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--window", type=int, default=4, help="unanswered batches per worker")
    ap.add_argument("--shift-steps", type=int, default=0, help="warm pass: shift time by R steps")
    ap.add_argument("--topic-prefix", default="vigil/ingest/")
    ap.add_argument("--deadline-s", type=float, default=600)
    ap.add_argument("--prefix", default="vigil_mqtt_write")
    a = ap.parse_args()
    host, port = a.broker.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("loopback targets only")
    sys.path.insert(0, a.peers)
    import loader  # noqa: E402

    with open(a.data + ".meta.json") as f:
        meta = json.load(f)
    lp = loader.build_batches(a.data, meta, a.batch, a.workers, "vm", a.shift_steps)
    epoch = 1 + a.shift_steps
    per_worker = [[(json_batch(body, f"gw-lp-group-{w}", epoch, seq + 1), n)
                   for seq, (body, n) in enumerate(batches)] for w, batches in enumerate(lp)]
    deadline = time.monotonic() + a.deadline_s
    stats = {"stored": 0, "errors": 0, "first_error": None}
    lock = threading.Lock()

    class Worker:
        """One gateway's connection: publishes its batches, hears their answers."""

        def __init__(self, w):
            self.gateway = f"gw-lp-group-{w}"
            self.batches = per_worker[w]
            self.cond = threading.Condition()
            self.answered = {}  # sequence -> answer
            subscribed = threading.Event()
            self.client = mqtt.Client(client_id=f"bench-{self.gateway}", clean_session=True)
            self.client.on_message = self.on_message
            self.client.on_subscribe = lambda *args: subscribed.set()
            self.client.connect(host, int(port))
            self.client.loop_start()
            self.client.subscribe(a.topic_prefix + self.gateway + "/ack", qos=1)
            if not subscribed.wait(10):
                sys.exit("no SUBACK from the broker")

        def on_message(self, client, userdata, message):
            answer = json.loads(message.payload)
            if answer.get("epoch") != epoch:
                return  # an answer of the untimed pass, still queued
            with self.cond:
                self.answered[answer["sequence"]] = answer
                self.cond.notify_all()

        def run(self):
            for seq, (body, _) in enumerate(self.batches, start=1):
                with self.cond:  # at most --window unanswered
                    self.cond.wait_for(lambda: seq - len(self.answered) <= a.window,
                                       max(0.0, deadline - time.monotonic()))
                self.client.publish(a.topic_prefix + self.gateway, body, qos=1)
            with self.cond:
                self.cond.wait_for(lambda: len(self.answered) >= len(self.batches),
                                   max(0.0, deadline - time.monotonic()))

        def tally(self):
            ok = errs = 0
            first = None
            for seq, (_, n) in enumerate(self.batches, start=1):
                answer = self.answered.get(seq)
                if answer is not None and "error" not in answer and answer["rejected_readings"] == 0:
                    ok += answer["stored_readings"]
                else:
                    errs += 1
                    first = first or f"sequence {seq}: {answer}"
            self.client.loop_stop()
            self.client.disconnect()
            with lock:
                stats["stored"] += ok
                stats["errors"] += errs
                stats["first_error"] = stats["first_error"] or first

    workers = [Worker(w) for w in range(a.workers)]  # connected and subscribed before timing
    seconds, cpu = run_timed([w.run for w in workers], lambda: loader.proc_cpu_s(a.server_pid))
    for w in workers:
        w.tally()
    if stats["errors"]:
        sys.exit(f"{stats['errors']} batches not stored whole, first: {stats['first_error']}")
    report(a.prefix, stats["stored"], seconds, cpu)

if __name__ == "__main__":
    main()
