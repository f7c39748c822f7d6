#!/usr/bin/env python3
"""POSTs a shared/peers line-protocol file to vigild's /write, exactly as
shared/peers/loader.py does for VictoriaMetrics (same batches: one time step x
--batch consecutive sensors; worker w sends blocks b % W == w in order on one
keep-alive connection), except that worker w writes as gateway gw-lp-group-w
(the registry `vigil-load --register-only --lp-group block` made). vigild
answers 204 only once the readings are durable (storage.durability) and
readable, so the time until the last 204 is the whole time. Prints
`name value unit` lines. Loopback only; bounded by --deadline-s.

--format json sends the same readings as POST /api/v1/ingest JSON batches
instead (one series per line, epoch 1 + --shift-steps, sequence from 1 per
worker; answered 200 once durable): the HTTP JSON path on the same data.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time


def json_batch(body, gateway, epoch, sequence):
    """A line-protocol body of gen_data.py lines as one POST /api/v1/ingest batch."""
    series = []
    for line in body.splitlines():
        key, field, ts = line.rsplit(b" ", 2)
        sensor = key.rsplit(b"sensor_id=", 1)[1].split(b",", 1)[0].decode()
        value = field.split(b"=", 1)[1].decode()
        series.append(f'{{"sensor_id":"{sensor}","timestamps_ms":[{ts.decode()}],'
                      f'"values":[{value}]}}')
    return (f'{{"gateway_id":"{gateway}","epoch":{epoch},"sequence":{sequence},'
            f'"series":[{",".join(series)}]}}').encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--peers", required=True, help="shared/peers folder (its loader.py)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--http", required=True, help="vigild's http= address, 127.0.0.1:PORT")
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--shift-steps", type=int, default=0, help="warm pass: shift time by R steps")
    ap.add_argument("--deadline-s", type=float, default=600)
    ap.add_argument("--prefix", default="vigil_http_write")
    ap.add_argument("--format", choices=["lp", "json"], default="lp")
    a = ap.parse_args()
    host, port = a.http.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("loopback targets only")
    sys.path.insert(0, a.peers)
    import loader  # noqa: E402  (shared/peers/loader.py: the same batches as the peers get)

    with open(a.data + ".meta.json") as f:
        meta = json.load(f)
    per_worker = loader.build_batches(a.data, meta, a.batch, a.workers, "vm", a.shift_steps)
    if a.format == "json":  # built before timing, as the line-protocol bodies are
        per_worker = [[(json_batch(body, f"gw-lp-group-{w}", 1 + a.shift_steps, seq + 1), n)
                       for seq, (body, n) in enumerate(batches)]
                      for w, batches in enumerate(per_worker)]
    path_of = (lambda w: "/api/v1/ingest") if a.format == "json" else (
        lambda w: f"/write?gateway=gw-lp-group-{w}&precision=ms")
    ok_status = 200 if a.format == "json" else 204
    stats = {"ok": 0, "errors": 0, "first_error": None}
    lock = threading.Lock()
    deadline = time.monotonic() + a.deadline_s

    def work(w):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        path = path_of(w)
        ok = errs = 0
        first = None
        for body, n in per_worker[w]:
            if time.monotonic() > deadline:
                break
            conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
            r = conn.getresponse()
            text = r.read()
            if r.status == ok_status:
                ok += n
            else:
                errs += 1
                first = first or f"{r.status} {text[:300]!r}"
        conn.close()
        with lock:
            stats["ok"] += ok
            stats["errors"] += errs
            stats["first_error"] = stats["first_error"] or first

    seconds, cpu = run_timed([lambda w=w: work(w) for w in range(a.workers)],
                             lambda: loader.proc_cpu_s(a.server_pid))
    if stats["errors"]:
        sys.exit(f"{stats['errors']} requests failed, first: {stats['first_error']}")
    report(a.prefix, stats["ok"], seconds, cpu)


def run_timed(jobs, server_cpu_s):
    """Runs each job on its own thread; (wall seconds, server CPU seconds) until all end."""
    cpu0 = server_cpu_s()
    t0 = time.monotonic()
    threads = [threading.Thread(target=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, server_cpu_s() - cpu0


def report(prefix, readings, seconds, cpu):
    print(f"{prefix}_readings {readings} count")
    print(f"{prefix}_seconds {seconds:.3f} s")
    print(f"{prefix}_readings_per_s {readings / seconds:.0f} readings/s")
    print(f"{prefix}_server_cpu_us_per_reading {cpu / readings * 1e6:.3f} us")


if __name__ == "__main__":
    main()
