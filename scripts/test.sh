#!/usr/bin/env bash
# The README's test command: installs what the suite needs and runs it.
#   bash scripts/test.sh [pytest arguments]
# System packages (ffmpeg, sox, espeak-ng, Chromium) are installed with apt-get when missing and
# this runs as root; otherwise it says which are missing. With CALLCENTER_TEST_DATABASE_URL set,
# every database test also runs on that PostgreSQL server (and fails if it cannot be reached).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them with apt-get, then run again)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
exec .venv/bin/python -m pytest "$@"
