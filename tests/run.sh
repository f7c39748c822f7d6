#!/usr/bin/env bash
# Test: installs missing Debian packages, builds everything (warnings are
# errors) in build/, and runs the whole suite through ctest. Extra arguments
# go to ctest, e.g. -R e2e or --repeat until-fail:3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash deploy/install-deps.sh --test
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIL_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)"
cd build
ctest --output-on-failure --timeout 300 -j 2 "$@"
