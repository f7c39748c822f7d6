#!/usr/bin/python3
"""The cluster deployment files of deploy/cluster/ as shipped, checked:

1. Every NATS config passes `nats-server -t` (its own config test): the three
   node files of deploy/cluster/nats/ (with common.conf and auth.conf next to
   them) and the Kubernetes ConfigMap's nats.conf with its auth.conf. /etc/nats/
   and the other absolute paths move to a temporary folder, where a throwaway CA
   (openssl) signs the certificates the configs name: nats-server loads them.
   Each says max_payload 16MB, JetStream, three routes, verify_and_map TLS.
2. auth.conf: the ConfigMap's copy equals deploy/cluster/nats/auth.conf; the
   vigil user may publish vigil.ingest.> and no wildcard over all of $JS.
3. Every vigild config passes `vigild --check-config` with a non-empty rule set
   resolved against its registry: deploy/cluster/vigil.yaml (with the files
   deploy/README.md installs next to it) and the Kubernetes overlay's vigil.yaml
   (rendered with `kubectl kustomize` when kubectl is installed, else the
   overlay's own file with the base's registry and rules). Each is the jetstream
   backend with replicas 3, three NATS URLs and an explicit server.shards (journals
   numbered alike need the same count at every node); NATS TLS files are the ones made
   here, server TLS is off and the tokens file empty (as check_shipped_configs.py
   does: certificates and tokens are the operator's).
4. The Kubernetes manifests parse (yaml.safe_load_all), every object has
   apiVersion, kind and metadata.name; StatefulSets nats and vigil have 3
   replicas, volume claims and probes (gRPC health through vigilctl for vigild).
5. The systemd units pass `systemd-analyze verify` (vigild's with the cluster
   drop-in), when systemd-analyze is installed.

    tests/deploy/check_cluster_deploy.py VIGILD SOURCE_DIR
    tests/deploy/check_cluster_deploy.py --smoke BUILD_DIR SOURCE_DIR

--smoke runs deploy/run-cluster.sh --smoke (3 NATS + 3 vigild on loopback,
readings written through one node and read back from the others, a node killed
and restarted); exit 77 (skipped) without nats-server or openssl.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

failures = []


def fail(message):
    failures.append(message)
    print("FAILED: " + message, file=sys.stderr)


def run(args, timeout=60, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def make_certificates(folder):
    """A CA, a server certificate (also a route client) and the vigil user's
    client certificate, as PEM files in `folder`."""
    os.makedirs(folder, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = run(["openssl", "req", "-x509", "-new", *ec, "-keyout", f"{folder}/ca.key",
              "-out", f"{folder}/ca.crt", "-days", "2", "-subj", "/O=Vigil/CN=test CA"])
    if ca.returncode != 0:
        raise RuntimeError("openssl: " + ca.stderr)
    for name, subject, ext in (
            ("server", "/O=Vigil/CN=nats", "subjectAltName=DNS:localhost\n"
             "extendedKeyUsage=serverAuth,clientAuth\n"),
            ("client", "/O=Vigil/CN=vigil", "extendedKeyUsage=clientAuth\n")):
        with open(f"{folder}/{name}.ext", "w") as f:
            f.write(ext)
        for args in (["openssl", "req", "-new", *ec, "-keyout", f"{folder}/{name}.key",
                      "-out", f"{folder}/{name}.csr", "-subj", subject],
                     ["openssl", "x509", "-req", "-in", f"{folder}/{name}.csr", "-CA",
                      f"{folder}/ca.crt", "-CAkey", f"{folder}/ca.key", "-CAcreateserial",
                      "-days", "2", "-out", f"{folder}/{name}.crt", "-extfile",
                      f"{folder}/{name}.ext"]):
            step = run(args)
            if step.returncode != 0:
                raise RuntimeError("openssl: " + step.stderr)


def nats_test(conf, what, env=None):
    """`nats-server -t -c conf` passes, and the config says what a Vigil node needs."""
    out = run([nats_server, "-t", "-c", conf], env=env)
    if out.returncode != 0:
        fail(f"{what}: nats-server -t exit {out.returncode}: {out.stdout}{out.stderr}")
        return
    folder = os.path.dirname(conf)

    def with_includes(path):
        text = open(path).read()
        for name in re.findall(r"^\s*include\s+\.?/?(\S+)", text, re.M):
            text += with_includes(os.path.join(folder, name))
        return text

    text = with_includes(conf)
    for needle, why in ((r"max_payload:\s*16MB", "max_payload 16MB"),
                        (r"jetstream\s*\{", "JetStream"),
                        (r"verify_and_map:\s*true", "client certificates mapped to users"),
                        (r'"CN=vigil,O=Vigil"', "the vigil user")):
        if not re.search(needle, text):
            fail(f"{what}: no {why}")
    routes = re.findall(r"nats-route://", text)
    if len(routes) != 3:
        fail(f"{what}: {len(routes)} routes, not 3")
    print(f"ok nats-server -t {what}")


def relocate_nats(text, base):
    """NATS config `text` with its absolute paths moved under `base`."""
    for path in ("/etc/nats/tls/server.crt", "/etc/nats/tls/server.key", "/etc/nats/tls/ca.crt"):
        name = os.path.basename(path)
        text = text.replace(path, os.path.join(base, "tls", name))
    text = text.replace('"/var/lib/nats"', f'"{base}/store"')
    text = text.replace('"/data"', f'"{base}/store"')
    text = text.replace('"/run/nats/nats.pid"', f'"{base}/nats.pid"')
    text = text.replace('"/var/run/nats/nats.pid"', f'"{base}/nats.pid"')
    return text


def check_nats(deploy, work, config_map):
    nats = os.path.join(deploy, "cluster", "nats")
    auth = open(os.path.join(nats, "auth.conf")).read()
    # The vigil user's permissions: its subjects, not everything.
    vigild = auth[auth.index("VIGILD = {"):auth.index("users = [")]
    if '"vigil.ingest.>"' not in vigild or re.search(r'"\$JS\.(API\.)?>"|"\$JS\.\*', vigild) \
            or '">"' in vigild:
        fail("deploy/cluster/nats/auth.conf: the vigil user is not limited to its subjects")
    folder = os.path.join(work, "nats")
    os.makedirs(folder)
    shutil.copytree(os.path.join(work, "tls"), os.path.join(folder, "tls"))
    for name in ("common.conf", "auth.conf"):
        with open(os.path.join(folder, name), "w") as f:
            f.write(relocate_nats(open(os.path.join(nats, name)).read(), folder))
    for n in (1, 2, 3):
        name = f"nats-{n}.conf"
        shutil.copy(os.path.join(nats, name), os.path.join(folder, name))
        if f"server_name: nats-{n}" not in open(os.path.join(nats, name)).read():
            fail(f"deploy/cluster/nats/{name}: server_name is not nats-{n}")
        nats_test(os.path.join(folder, name), "deploy/cluster/nats/" + name)

    # The Kubernetes ConfigMap's files, mounted at /etc/nats; $POD_NAME from the pod.
    if config_map["data"].get("auth.conf") != auth:
        fail("kubernetes nats-config auth.conf differs from deploy/cluster/nats/auth.conf")
    folder = os.path.join(work, "nats-kubernetes")
    os.makedirs(folder)
    shutil.copytree(os.path.join(work, "tls"), os.path.join(folder, "tls"))
    for name, text in config_map["data"].items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(relocate_nats(text, folder))
    nats_test(os.path.join(folder, "nats.conf"), "deploy/cluster/kubernetes nats-config",
              env=dict(os.environ, POD_NAME="nats-0"))


def check_vigild_config(text, etc, what, registry_src, rules_src):
    """Writes vigil.yaml `text` with /etc/vigil/ moved to `etc` (server TLS off,
    an empty tokens file, the NATS TLS files made here) and runs --check-config."""
    os.makedirs(etc, exist_ok=True)
    shutil.copy(registry_src, os.path.join(etc, "registry.yaml"))
    shutil.copy(rules_src, os.path.join(etc, "rules.yaml"))
    config = yaml.safe_load(text.replace("/etc/vigil/", etc + "/"))
    log = config.get("ingest_log", {})
    if (log.get("backend") != "jetstream" or log.get("replicas") != 3
            or len(log.get("nats_urls", [])) != 3
            or not all(u.startswith("tls://") for u in log.get("nats_urls", []))):
        fail(f"{what}: not the jetstream backend with replicas 3 and three tls:// NATS URLs")
    # Journals numbered alike need the same shard count at every node: explicit.
    if not isinstance(config.get("server", {}).get("shards"), int) or \
            config["server"]["shards"] < 1:
        fail(f"{what}: server.shards is not an explicit count (the same on every node)")
    tls = os.path.join(os.path.dirname(os.path.dirname(etc)), "tls")
    for key, name in (("nats_tls_ca_file", "ca.crt"), ("nats_tls_cert_file", "client.crt"),
                      ("nats_tls_key_file", "client.key")):
        if not log.get(key):
            fail(f"{what}: no ingest_log.{key}")
            continue
        os.makedirs(os.path.dirname(log[key]), exist_ok=True)
        shutil.copy(os.path.join(tls, name), log[key])
    config.setdefault("server", {})["tls"] = "off"
    tokens_file = config.get("auth", {}).get("tokens_file")
    if tokens_file:
        with open(tokens_file, "w") as f:
            f.write("[]\n")
    path = os.path.join(etc, "vigil.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    out = run([vigild, "--config", path, "--check-config", "--listen", "127.0.0.1:7070"])
    text = out.stdout + out.stderr
    m = re.search(r"^# rules: (\d+) \(.*\), checked against registry: ", text, re.M)
    if out.returncode != 0 or not m or int(m.group(1)) == 0:
        fail(f"{what}: --check-config exit {out.returncode}, no non-empty rule set:\n{text}")
        return
    print(f"ok config {what}: {m.group(1)} rules")


def kubernetes_docs(deploy):
    folder = os.path.join(deploy, "cluster", "kubernetes")
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = run([kubectl, "kustomize", folder])
        if out.returncode != 0:
            fail("kubectl kustomize deploy/cluster/kubernetes: " + out.stderr)
            return [], False
        print("ok kubectl kustomize deploy/cluster/kubernetes")
        return [d for d in yaml.safe_load_all(out.stdout) if d], True
    print("kubectl not installed: checking the overlay's files without rendering it")
    docs = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            with open(os.path.join(folder, name)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d and "kind" in d]
    return docs, False


def check_kubernetes(docs, rendered):
    for doc in docs:
        for key in ("apiVersion", "kind"):
            if key not in doc:
                fail(f"deploy/cluster/kubernetes: an object without {key}")
        if not doc.get("metadata", {}).get("name"):
            fail(f"deploy/cluster/kubernetes: a {doc.get('kind')} without metadata.name")
    sets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "StatefulSet"}
    for name in ("nats", "vigil"):
        s = sets.get(name)
        if s is None:
            fail(f"deploy/cluster/kubernetes: no StatefulSet {name}")
            continue
        if s["spec"].get("replicas") != 3:
            fail(f"deploy/cluster/kubernetes: StatefulSet {name} has not 3 replicas")
        if not rendered and name == "vigil":
            continue  # a patch only; its probes and claims come from the base
        if not s["spec"].get("volumeClaimTemplates"):
            fail(f"deploy/cluster/kubernetes: StatefulSet {name} has no volume claim")
        container = s["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in container:
                fail(f"deploy/cluster/kubernetes: StatefulSet {name} has no {probe}")
        if name == "vigil" and "health" not in container.get("readinessProbe", {}).get(
                "exec", {}).get("command", []):
            fail("deploy/cluster/kubernetes: vigild's readiness is not gRPC health")
    if not any(d.get("kind") == "Service" and d["metadata"]["name"] == "nats-headless"
               and d["spec"].get("clusterIP") == "None" for d in docs):
        fail("deploy/cluster/kubernetes: no headless Service nats-headless")
    print(f"ok kubernetes deploy/cluster/kubernetes ({len(docs)} objects)")


def check_systemd(source, work):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skipped systemd units: no systemd-analyze")
        return
    units = os.path.join(work, "units")
    os.makedirs(os.path.join(units, "vigild.service.d"))
    with open(os.path.join(units, "vigild.service"), "w") as f:
        f.write(open(os.path.join(source, "deploy", "systemd", "vigild.service")).read()
                .replace("/usr/local/bin/vigild", "/bin/true"))
    with open(os.path.join(units, "nats-server.service"), "w") as f:
        f.write(open(os.path.join(source, "deploy", "cluster", "systemd", "nats-server.service"))
                .read().replace("/usr/sbin/nats-server", "/bin/true"))
    shutil.copy(os.path.join(source, "deploy", "cluster", "systemd", "vigild.service.d",
                             "cluster.conf"), os.path.join(units, "vigild.service.d"))
    # By name, from SYSTEMD_UNIT_PATH: that is how systemd finds the drop-in.
    env = dict(os.environ, SYSTEMD_UNIT_PATH=units + ":")
    for unit in ("nats-server.service", "vigild.service"):
        out = run([analyze, "verify", unit], env=env)
        if out.returncode != 0 or out.stdout.strip() or out.stderr.strip():
            fail(f"systemd-analyze verify {unit} (deploy/cluster/systemd): "
                 f"{out.stdout}{out.stderr}")
        else:
            print(f"ok systemd-analyze verify {unit}")


def smoke(build, source):
    if not shutil.which("nats-server") or not shutil.which("openssl"):
        print("SKIP: no nats-server or openssl")
        return 77
    try:
        out = subprocess.run([os.path.join(source, "deploy", "run-cluster.sh"), "--smoke",
                              "--build-dir", build], timeout=150)
    except subprocess.TimeoutExpired:
        print("FAILED: run-cluster.sh --smoke took over 150 s", file=sys.stderr)
        return 1
    return 0 if out.returncode == 0 else 1


def main():
    global vigild, nats_server
    if sys.argv[1] == "--smoke":
        return smoke(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
    vigild, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    deploy = os.path.join(source, "deploy")
    nats_server = shutil.which("nats-server")
    work = tempfile.mkdtemp()
    try:
        make_certificates(os.path.join(work, "tls"))
        docs, rendered = kubernetes_docs(deploy)
        check_kubernetes(docs, rendered)
        with open(os.path.join(deploy, "cluster", "kubernetes", "nats.yaml")) as f:
            nats_map = next(d for d in yaml.safe_load_all(f)
                            if d and d.get("kind") == "ConfigMap")
        if nats_server:
            check_nats(deploy, work, nats_map)
        else:
            print("skipped nats-server -t: nats-server not installed")

        # systemd hosts: the files deploy/README.md installs into /etc/vigil.
        check_vigild_config(open(os.path.join(deploy, "cluster", "vigil.yaml")).read(),
                            os.path.join(work, "etc", "systemd"), "deploy/cluster/vigil.yaml",
                            os.path.join(deploy, "registry.yaml"),
                            os.path.join(deploy, "rules.yaml"))
        # Kubernetes: the rendered ConfigMap (the overlay's vigil.yaml with the
        # base's registry and rules), or those files without kubectl.
        maps = [d for d in docs if d.get("kind") == "ConfigMap"
                and d["metadata"]["name"] == "vigil-config"]
        etc = os.path.join(work, "etc", "kubernetes")
        os.makedirs(etc)
        if maps:
            for name in ("registry.yaml", "rules.yaml"):
                with open(os.path.join(work, name), "w") as f:
                    f.write(maps[0]["data"][name])
            text = maps[0]["data"]["vigil.yaml"]
        else:
            with open(os.path.join(deploy, "kubernetes", "vigil.yaml")) as f:
                base = next(d for d in yaml.safe_load_all(f) if d and d["kind"] == "ConfigMap")
            for name in ("registry.yaml", "rules.yaml"):
                with open(os.path.join(work, name), "w") as f:
                    f.write(base["data"][name])
            text = open(os.path.join(deploy, "cluster", "kubernetes", "vigil.yaml")).read()
        check_vigild_config(text, etc, "deploy/cluster/kubernetes vigil-config",
                            os.path.join(work, "registry.yaml"), os.path.join(work, "rules.yaml"))
        check_systemd(source, work)
    finally:
        shutil.rmtree(work)
    if failures:
        print(f"{len(failures)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
