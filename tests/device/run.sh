#!/usr/bin/env bash
# Check the exporter on a machine with a real NVIDIA GPU: bash tests/device/run.sh [--backend=fake]
#
# Needs only python3 (3.11+). The exporter's runtime packages are taken, in this order, from:
# the interpreter itself; wheels in tests/device/wheels/ (for offline machines: fill it beforehand with
# `pip download -d tests/device/wheels prometheus-client nvidia-ml-py pyyaml requests`); PyPI.
# A failed install is tolerated: check.py then says what is missing. PYTHON=... picks the interpreter.
set -u
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
NEEDED="prometheus-client nvidia-ml-py pyyaml requests"

have_all() { "$PY" -c "import prometheus_client, pynvml, yaml, requests" 2>/dev/null; }

pip_install() {  # bounded, so the whole check stays under a minute even when PyPI is unreachable
  timeout 10 "$PY" -m pip install -q --disable-pip-version-check "$@" $NEEDED 2>/dev/null \
    || timeout 10 "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "$@" $NEEDED 2>/dev/null
}

if ! have_all && [ -d tests/device/wheels ]; then
  pip_install --no-index --find-links tests/device/wheels || true
fi
if ! have_all; then
  pip_install --retries 0 --timeout 5 || echo "note: could not install $NEEDED (offline?); using what is installed"
fi
if ! have_all; then
  echo "FAIL: $PY lacks some of: $NEEDED"
  exit 2
fi
exec timeout 55 "$PY" tests/device/check.py "$@"
