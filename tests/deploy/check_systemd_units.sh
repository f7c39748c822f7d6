#!/usr/bin/env bash
# `systemd-analyze verify` of the shipped units (deploy/systemd/*.service). The
# binary they start is not installed here: a copy of each unit runs /bin/true
# instead. systemd-analyze exits 0 even on unknown keys, so any output fails.
# Exit 0 when clean, 1 when not, 77 (ctest SKIP_RETURN_CODE) without systemd-analyze.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
analyze="$(command -v systemd-analyze || true)"
if [ -z "$analyze" ]; then
  echo "SKIP: systemd-analyze not found (Debian's systemd package)" >&2
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for unit in "$root"/deploy/systemd/*.service; do
  copy="$work/$(basename "$unit")"
  sed 's|/usr/local/bin/vigild|/bin/true|g' "$unit" > "$copy"
  echo "+ systemd-analyze verify $(basename "$unit")"
  if ! out="$("$analyze" verify "$copy" 2>&1)" || [ -n "$out" ]; then
    echo "FAILED: $unit" >&2
    echo "$out" >&2
    status=1
  fi
done
exit "$status"
