"""Test harness for the web console: the real vigild in a temp dir, with
authentication on, HTTP ingest (to raise alarms with readings) and the
console on ephemeral 127.0.0.1 ports. Standard library only, so that
/usr/bin/python3 runs it without anything from pip.

Tokens (their SHA-256 in the config): gateway gw-1 of enterprise e-1
(region 370105, Shandong) and gw-9 of e-9 (region 140202, Shanxi) write
readings; "jinan-op" is a region-37 operator, "shandong-viewer" a region-37
viewer, "shanxi-op" a region-14 operator, "datong-viewer" and "chengqu-viewer"
viewers of Shanxi's city 1402 and county 140202, "national" the national admin.
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

TOKENS = {
    "jinan-op": ("37", "operator"),
    "shandong-viewer": ("37", "viewer"),
    "datong-viewer": ("1402", "viewer"),
    "chengqu-viewer": ("140202", "viewer"),
    "shanxi-op": ("14", "operator"),
    "national": ("", "admin"),
}

REGISTRY = """enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-9, name: Mine Nine, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-2, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-3, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-4, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: m-1, enterprise: e-9, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-9, enterprise: e-9 }
"""

RULES = """rules:
  - id: temperature-high
    select: { quantity: temperature, enterprise_kind: hazardous_chemical }
    levels:
      hh: { value: 80, severity: 1 }
      h: { value: 50, severity: 2 }
    sensor_fault: off
  - id: methane-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels:
      h: { value: 1.0, severity: 2 }
    sensor_fault: off
"""


def failed(test):
    """Whether the unittest case running now has failed (for tearDown)."""
    outcome = test._outcome
    if hasattr(outcome, "errors"):  # Python < 3.11
        return any(error for _, error in outcome.errors)
    result = outcome.result
    return bool(result.errors or result.failures) and not outcome.success is True


def secret(name):
    return name + "-secret"


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def now_ms():
    return int(time.time() * 1000)


class Vigild:
    """vigild as a child process. start() waits for its start line."""

    def __init__(self, vigild_path, assets_dir, console_listen="127.0.0.1:0", extra="",
                 registry=REGISTRY):
        self.vigild_path = vigild_path
        self.dir = tempfile.mkdtemp(prefix="vigil-console-")
        tokens = "".join(
            '    - {{ name: {n}, region: "{r}", role: {role}, sha256: {h} }}\n'.format(
                n=name, r=region, role=role, h=sha256(secret(name)))
            for name, (region, role) in TOKENS.items())
        for gw in ("gw-1", "gw-9"):
            tokens += "    - {{ name: {g}, role: gateway, gateway: {g}, sha256: {h} }}\n".format(
                g=gw, h=sha256(secret(gw)))
        with open(os.path.join(self.dir, "registry.yaml"), "w") as f:
            f.write(registry)
        with open(os.path.join(self.dir, "rules.yaml"), "w") as f:
            f.write(RULES)
        with open(os.path.join(self.dir, "config.yaml"), "w") as f:
            f.write("storage: { durability: wal }\n"
                    "registry_file: registry.yaml\nrules_file: rules.yaml\n"
                    "alarms: { heartbeat_interval: 500ms, max_shelve: 2h }\n"
                    'http: { listen: "127.0.0.1:0" }\n'
                    + 'console:\n  enabled: true\n  listen: "%s"\n  assets_dir: "%s"\n'
                    % (console_listen, os.path.abspath(assets_dir))
                    + "limits: { subscriptions_per_identity: 3 }\n"
                    + extra + "auth:\n  tokens:\n" + tokens)
        self.proc = None
        self.output = []
        self.sequence = {}  # per gateway: batches are numbered across restarts
        self.last_at = {}   # per sensor: readings get increasing times

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            [self.vigild_path, "--config", os.path.join(self.dir, "config.yaml"),
             "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--data-dir", os.path.join(self.dir, "data")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True)
        started = threading.Event()
        proc = self.proc

        def read():
            for line in proc.stdout:
                self.output.append(line)
                if line.startswith("vigild listening "):
                    fields = dict(f.split("=", 1) for f in line.split()[2:])
                    self.http = fields["http"]
                    self.console = fields["console"]
                    self.metrics = fields["metrics"]
                    started.set()
            started.set()  # ended: start() sees no address

        self.console = None
        threading.Thread(target=read, daemon=True).start()
        if not started.wait(timeout) or self.console is None:
            self.kill()
            raise RuntimeError("vigild did not start:\n" + "".join(self.output))

    def stop(self, timeout=30):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- HTTP ----

    def request(self, method, path, token=None, body=None, headers=None, address=None):
        """(status, headers dict lower-cased, parsed JSON or text)."""
        host, port = (address or self.console).rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read().decode()
        conn.close()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("content-type", "").startswith("application/json") and raw:
            return r.status, hdrs, json.loads(raw)
        return r.status, hdrs, raw

    def ingest(self, gateway, sensor, value, at_ms=None):
        """One reading through the HTTP ingest, answered once durable."""
        return self.ingest_many(gateway, {sensor: value}, at_ms)

    def ingest_many(self, gateway, values, at_ms=None):
        """One batch, a reading per sensor ({sensor: value}), answered once durable."""
        seq = self.sequence.get(gateway, 0) + 1
        self.sequence[gateway] = seq
        series = []
        for sensor, value in values.items():
            at = at_ms or max(now_ms(), self.last_at.get(sensor, 0) + 1)
            self.last_at[sensor] = at
            series.append({"sensor_id": sensor, "timestamps_ms": [at], "values": [value]})
        status, _, body = self.request(
            "POST", "/api/v1/ingest", token=secret(gateway), address=self.http,
            body={"gateway_id": gateway, "epoch": 1, "sequence": seq, "series": series})
        if status != 200:
            raise RuntimeError("ingest {}: {} {}".format(gateway, status, body))
        return body

    def active(self, token, query=""):
        return self.request("GET", "/api/v1/alarms/active" + query, token=token)

    def wait_alarm(self, token, sensor, predicate=lambda a: True, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, _, body = self.active(token)
            if status == 200:
                for a in body["alarms"]:
                    if a.get("sensor_id") == sensor and predicate(a):
                        return a
            time.sleep(0.05)
        raise AssertionError("no matching alarm of {} within {} s".format(sensor, timeout))

    def stream(self, token, last_event_id=None, query=""):
        return SseStream(self.console, token, last_event_id, query)


class SseStream:
    """A Server-Sent Events reader over http.client, like the page's fetch()."""

    def __init__(self, address, token, last_event_id=None, query=""):
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/v1/alarms/stream" + query, headers=headers)
        self.sock = self.conn.sock  # the response takes it over (Connection: close)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}

    def next(self, timeout=10):
        """The next message as (event, id or None, data): heartbeats included.
        None when the stream ended."""
        self.sock.settimeout(timeout)
        event, ident, data = "message", None, []
        while True:
            line = self.response.fp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if line == "":
                if data or ident is not None or event != "message":
                    payload = json.loads("\n".join(data)) if data else None
                    return event, (int(ident) if ident is not None else None), payload
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "id":
                ident = value
            elif field == "data":
                data.append(value)

    def next_event(self, timeout=10):
        """The next message other than a heartbeat or retry."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = self.next(max(0.1, deadline - time.time()))
            if message is None or message[0] != "heartbeat":
                return message
        raise TimeoutError("no event within {} s".format(timeout))

    def close(self):
        self.response.close()
        self.conn.close()
