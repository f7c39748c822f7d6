#!/usr/bin/python3
"""The deployment files as shipped, checked:

1. YAML lint: every YAML file under deploy/ parses (yaml.safe_load_all); every
   Kubernetes object has apiVersion, kind and metadata.name; the files a
   ConfigMap carries parse too.
2. The Kubernetes ConfigMap's rules.yaml equals the template it says it is
   (deploy/rules/hazardous_chemical.yaml).
3. Every shipped vigild config loads a non-empty rule set resolved against its
   registry: `vigild --check-config` on deploy/vigil.yaml, the systemd config
   with the files deploy/README.md installs next to it, the Docker image's
   config with the files the Dockerfile copies, the Kubernetes ConfigMap (and
   the lab overlay's, rendered with `kubectl kustomize` when kubectl is
   installed), and each template in deploy/rules/ with the sample registry.
   /etc/vigil/ paths are moved to a temporary folder, TLS is turned off (as the
   Dockerfile's own check does) and the tokens file is empty: certificates and
   tokens are the operator's.
4. The Kubernetes manifest is secure by default: TLS on, tokens from a file.

    tests/deploy/check_shipped_configs.py VIGILD SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

vigild, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
deploy = os.path.join(source, "deploy")
failures = []


def fail(message):
    failures.append(message)
    print("FAILED: " + message, file=sys.stderr)


def lint_yaml():
    for folder, _, files in os.walk(deploy):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path) as f:
                    docs = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                fail(f"{path}: {e}")
                continue
            print(f"ok yaml {os.path.relpath(path, source)} ({len(docs)} documents)")


def kubernetes_objects():
    with open(os.path.join(deploy, "kubernetes", "vigil.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for doc in docs:
        for key in ("apiVersion", "kind"):
            if key not in doc:
                fail(f"kubernetes/vigil.yaml: an object without {key}")
        if not doc.get("metadata", {}).get("name"):
            fail(f"kubernetes/vigil.yaml: a {doc.get('kind')} without metadata.name")
    return docs


def check_config(config, extra_args=(), what=""):
    """Runs --check-config; the rule count when it passes with rules resolved
    against a registry, else None (and a failure)."""
    run = subprocess.run([vigild, "--config", config, "--check-config", *extra_args],
                         capture_output=True, text=True, timeout=60)
    out = run.stdout + run.stderr
    m = re.search(r"^# rules: (\d+) \(.*\), checked against registry: ", out, re.M)
    if run.returncode != 0 or not m or int(m.group(1)) == 0:
        fail(f"{what}: --check-config exit {run.returncode}, no non-empty rule set "
             f"resolved against a registry:\n{out}")
        return None
    print(f"ok config {what}: {m.group(1)} rules")
    return int(m.group(1))


def relocated(text, etc):
    """vigil.yaml `text` with /etc/vigil/ moved to `etc`, TLS off and an empty
    tokens file in place of the Secret's."""
    config = yaml.safe_load(text.replace("/etc/vigil/", etc + "/"))
    config.setdefault("server", {})["tls"] = "off"
    tokens_file = config.get("auth", {}).get("tokens_file")
    if tokens_file:
        with open(tokens_file, "w") as f:
            f.write("[]\n")
    return yaml.safe_dump(config)


def check_config_map(config_map, etc, what):
    """Writes the ConfigMap's files into `etc` and checks its vigil.yaml."""
    os.makedirs(etc)
    for name, text in config_map["data"].items():
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as e:
            fail(f"{what} ConfigMap {name}: {e}")
        with open(os.path.join(etc, name), "w") as f:
            f.write(relocated(text, etc) if name == "vigil.yaml" else text)
    check_config(os.path.join(etc, "vigil.yaml"), ["--listen", "127.0.0.1:7070"], what)


def main():
    lint_yaml()
    docs = kubernetes_objects()
    work = tempfile.mkdtemp()
    try:
        # The sample config: its files sit next to it.
        check_config(os.path.join(deploy, "vigil.yaml"), what="deploy/vigil.yaml")

        # systemd: deploy/README.md installs the config, registry.yaml and rules.yaml.
        etc = os.path.join(work, "systemd")
        os.makedirs(etc)
        with open(os.path.join(deploy, "systemd", "vigil.yaml")) as f:
            systemd_config = f.read()
        readme = open(os.path.join(deploy, "README.md")).read()
        installs = re.findall(r"install -o root -g vigil -m 0640 (deploy/\S+) /etc/vigil/(\S+)",
                              readme)
        if not any(dst == "rules.yaml" for _, dst in installs):
            fail("deploy/README.md (systemd) installs no /etc/vigil/rules.yaml")
        for src, dst in installs:
            if dst != "vigil.yaml":
                shutil.copy(os.path.join(source, src), os.path.join(etc, dst))
        with open(os.path.join(etc, "vigil.yaml"), "w") as f:
            f.write(relocated(systemd_config, etc))
        check_config(os.path.join(etc, "vigil.yaml"), ["--listen", "127.0.0.1:7070"],
                     "deploy/systemd/vigil.yaml")

        # Docker: the files the Dockerfile copies into /etc/vigil.
        etc = os.path.join(work, "docker")
        os.makedirs(etc)
        dockerfile = open(os.path.join(deploy, "docker", "Dockerfile")).read()
        copies = re.findall(r"^COPY [^\n]*?(deploy/\S+) /etc/vigil/(\S+)$", dockerfile, re.M)
        if not any(dst == "rules.yaml" for _, dst in copies):
            fail("deploy/docker/Dockerfile copies no /etc/vigil/rules.yaml")
        # The console's page where vigild looks by default, and the trend's dygraphs.
        for page in ("index.html", "console.js", "console.css"):
            if not re.search(r"^COPY --from=build [^\n]*?/src/server/http/console_page/"
                             + re.escape(page) + r"\b[^\n]*? /usr/local/share/vigil/console/$",
                             dockerfile.replace("\\\n", " "), re.M):
                fail("deploy/docker/Dockerfile does not copy the console's " + page +
                     " to /usr/local/share/vigil/console/")
        if "libjs-dygraphs" not in dockerfile:
            fail("deploy/docker/Dockerfile does not install libjs-dygraphs (the console's trend)")
        for src, dst in copies:
            with open(os.path.join(source, src)) as f:
                text = f.read()
            with open(os.path.join(etc, dst), "w") as f:
                f.write(relocated(text, etc) if dst == "vigil.yaml" else text)
        check_config(os.path.join(etc, "vigil.yaml"), ["--listen", "127.0.0.1:7070"],
                     "deploy/docker/Dockerfile")

        # Kubernetes: the ConfigMap's files, mounted at /etc/vigil.
        config_map = next(d for d in docs if d.get("kind") == "ConfigMap")
        with open(os.path.join(deploy, "rules", "hazardous_chemical.yaml")) as f:
            if yaml.safe_load(config_map["data"].get("rules.yaml", "")) != yaml.safe_load(f):
                fail("kubernetes ConfigMap rules.yaml differs from "
                     "deploy/rules/hazardous_chemical.yaml")
        check_config_map(config_map, os.path.join(work, "kubernetes"),
                         "deploy/kubernetes/vigil.yaml")
        # The secure default: TLS on, tokens from a file (the Secret), no plaintext.
        server = yaml.safe_load(config_map["data"]["vigil.yaml"])
        if (not isinstance(server["server"].get("tls"), dict)
                or server["server"].get("allow_plaintext")
                or not server.get("auth", {}).get("tokens_file")):
            fail("deploy/kubernetes/vigil.yaml: not TLS and tokens by default")

        # The lab overlay, rendered by kubectl's kustomize when kubectl is here.
        kubectl = shutil.which("kubectl")
        if kubectl:
            run = subprocess.run([kubectl, "kustomize", os.path.join(deploy, "kubernetes-lab")],
                                 capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                fail("kubectl kustomize deploy/kubernetes-lab: " + run.stderr)
            else:
                lab = [d for d in yaml.safe_load_all(run.stdout) if d]
                check_config_map(next(d for d in lab if d.get("kind") == "ConfigMap"),
                                 os.path.join(work, "kubernetes-lab"), "deploy/kubernetes-lab")
        else:
            print("skipped deploy/kubernetes-lab: no kubectl to render it")

        # Each template by enterprise kind, with the sample registry.
        for name in sorted(os.listdir(os.path.join(deploy, "rules"))):
            config = os.path.join(work, "template-" + name)
            with open(config, "w") as f:
                f.write(f"registry_file: {os.path.join(deploy, 'registry.yaml')}\n"
                        f"rules_file: {os.path.join(deploy, 'rules', name)}\n")
            check_config(config, what="deploy/rules/" + name)
    finally:
        shutil.rmtree(work)
    if failures:
        print(f"{len(failures)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
