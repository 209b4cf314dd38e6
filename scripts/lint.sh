#!/usr/bin/env bash
# The habits that keep the shape (docs/architecture.md): import contracts, lint, types, format.
# Run by .ci/run before the tests; every step runs, and the script fails if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${VIRTUAL_ENV:-.venv}/bin"
[ -x "$bin/ruff" ] || bin="$(dirname "$(command -v python3)")"

status=0
step() {
  echo "== $*"
  "$@" || status=1
}
step "$bin/lint-imports"
step "$bin/ruff" check callcenter tests bench scripts
step "$bin/mypy"
step "$bin/ruff" format --check --output-format concise callcenter tests bench scripts
exit $status
