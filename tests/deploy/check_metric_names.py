#!/usr/bin/python3
"""Every metric the shipped Grafana dashboard and Prometheus alert rules query
is one vigild exports: starts vigild (Alertmanager forwarding on, so its
metrics exist too) and a cluster node (its ingest log on a nats-server
started here, so the vigil_cluster_* metrics exist), scrapes /metrics of
each once, and compares the names in every
`expr` of deploy/grafana/vigil-dashboard.json and deploy/prometheus/vigil_alerts.yml
with the exported families. A renamed metric otherwise leaves a dashboard panel
empty and an alert silent without anyone noticing.

    tests/deploy/check_metric_names.py VIGILD SOURCE_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

vigild, source = sys.argv[1], sys.argv[2]
NAME = re.compile(r"\b((?:vigil|process)_[a-z0-9_]+)\b")


def used_in_dashboard(path):
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    names.update(NAME.findall(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    with open(path) as f:
        walk(json.load(f))
    return names


def used_in_rules(path):
    """Names in every `expr:`, on its line or in the block scalar under it."""
    names = set()
    block_indent = None  # indentation of the `expr:` key while in its block
    with open(path) as f:
        for line in f:
            indent = len(line) - len(line.lstrip())
            if block_indent is not None:
                if line.strip() and indent <= block_indent:
                    block_indent = None
                else:
                    names.update(NAME.findall(line))
                    continue
            match = re.match(r"(\s*)expr:\s*(.*)", line)
            if match:
                names.update(NAME.findall(match.group(2)))
                if match.group(2).strip()[:1] in ("|", ">"):
                    block_indent = len(match.group(1))
    return names


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(work, name, config_text):
    """Starts vigild with `config_text`, returns its /metrics text."""
    config = os.path.join(work, name + ".yaml")
    with open(config, "w") as f:
        f.write(config_text)
    out_path = os.path.join(work, name + ".out")
    with open(out_path, "w") as out:
        server = subprocess.Popen([vigild, "--config", config, "--data-dir",
                                   os.path.join(work, name)],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        address = None
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline and server.poll() is None:
            with open(out_path) as f:
                match = re.search(r"vigild listening grpc=\S+ metrics=(\S+)", f.read())
            if match:
                address = match.group(1)
            else:
                time.sleep(0.1)
        if address is None:
            with open(out_path) as f:
                sys.exit(name + " vigild did not start:\n" + f.read()[-2000:])
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
            return response.read().decode()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


with tempfile.TemporaryDirectory() as work:
    listen = 'server: { listen: "127.0.0.1:0", metrics_listen: "127.0.0.1:0" }\n'
    text = scrape(work, "single", listen + 'alertmanager: { url: "http://127.0.0.1:9" }\n')
    nats_port, nats_http = free_port(), free_port()
    with open(os.path.join(work, "nats.conf"), "w") as f:
        f.write(f"listen: 127.0.0.1:{nats_port}\nhttp: 127.0.0.1:{nats_http}\n"
                f'jetstream {{ store_dir: "{os.path.join(work, "nats")}" }}\n')
    nats = subprocess.Popen(["nats-server", "-c", os.path.join(work, "nats.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{nats_http}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        text += scrape(work, "cluster", listen + "ingest_log: { backend: jetstream, "
                       f'nats_urls: ["nats://127.0.0.1:{nats_port}"] }}\n')
    finally:
        nats.terminate()
        nats.wait(timeout=30)

exported = set(re.findall(r"^# TYPE (\S+)", text, re.MULTILINE))
failed = False
for path, used in (
        ("deploy/grafana/vigil-dashboard.json",
         used_in_dashboard(os.path.join(source, "deploy/grafana/vigil-dashboard.json"))),
        ("deploy/prometheus/vigil_alerts.yml",
         used_in_rules(os.path.join(source, "deploy/prometheus/vigil_alerts.yml")))):
    # Histograms are queried through their _bucket, _sum and _count series.
    missing = sorted(n for n in used
                     if n not in exported and re.sub(r"_(bucket|sum|count)$", "", n) not in exported)
    print(f"{path}: {len(used)} metric names queried, {len(missing)} not exported"
          + (": " + ", ".join(missing) if missing else ""))
    failed = failed or bool(missing) or not used
sys.exit(1 if failed else 0)
