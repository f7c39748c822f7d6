#!/usr/bin/env bash
# Checks the shipped Prometheus files with promtool:
#   promtool check rules  deploy/prometheus/vigil_alerts.yml
#   promtool test rules   deploy/prometheus/vigil_alerts_test.yml
#   promtool check config deploy/prometheus/prometheus.yml
# Exit 0 when all pass, 1 when one fails, 77 (ctest SKIP_RETURN_CODE) when promtool is
# missing: it comes with Debian's `prometheus` package.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/deploy/prometheus"

promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
  echo "SKIP: promtool not found (install Debian's 'prometheus' package, or set PROMTOOL)" >&2
  exit 77
fi

# Work on a copy: the config names its rule file by a relative path, and promtool
# resolves it against the config file's folder; nothing is written next to the sources.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$src/prometheus.yml" "$src/vigil_alerts.yml" "$src/vigil_alerts_test.yml" "$work/"

status=0
run() {
  echo "+ promtool $*"
  if ! (cd "$work" && "$promtool" "$@"); then
    echo "FAILED: promtool $*" >&2
    status=1
  fi
}
run check rules vigil_alerts.yml
run test rules vigil_alerts_test.yml
run check config prometheus.yml
exit "$status"
