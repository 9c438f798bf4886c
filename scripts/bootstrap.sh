#!/usr/bin/env bash
# Makes a fresh machine ready: the virtualenv with the project's packages, and the Prometheus tools the
# tests and generators check their output with. Idempotent; re-installs Python packages when pyproject changes.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
need_tools=${NEED_TOOLS:-1}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "bootstrap: $PYTHON not found; install Python 3.11+ (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi

stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bootstrap: installing Python packages into $VENV (first run takes a few minutes)"
  "$PYTHON" -m venv "$VENV" || {
    echo "bootstrap: could not create a virtualenv; install the venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  # pip warns about every local index folder this machine's pip.conf names: keep real errors, drop that noise.
  "$VENV/bin/pip" install --quiet --upgrade pip 2>&1 | { grep -v "^WARNING: Location 'file:" || true; } >&2
  "$VENV/bin/pip" install --quiet -e ".[test]" 2>&1 | { grep -v -e "^WARNING: Location 'file:" || true; } >&2
  echo "$stamp" > "$VENV/.stamp"
fi

if [ "$need_tools" = 1 ]; then
  missing=()
  for tool in promtool prometheus; do command -v "$tool" >/dev/null 2>&1 || missing+=(prometheus); done
  for tool in amtool prometheus-alertmanager; do command -v "$tool" >/dev/null 2>&1 || missing+=(prometheus-alertmanager); done
  # The fleet test and bench compare Prometheus with VictoriaMetrics and vmalert (the global view).
  for tool in victoria-metrics vmalert; do command -v "$tool" >/dev/null 2>&1 || missing+=(victoria-metrics); done
  if [ ${#missing[@]} -gt 0 ]; then
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing Debian packages: $pkgs"
      apt-get update -qq >/dev/null
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
    else
      echo "bootstrap: missing tools; run as root: apt-get install -y $pkgs" >&2
      exit 1
    fi
  fi
fi
