#!/usr/bin/env bash
# Creates (once) the Python virtual environment that the nn scripts use and
# prints the path of its python. Idempotent: re-runs only when
# scripts/requirements-nn.txt changed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
VENV="$CLUSTERAI_CACHE/venv-nn"
REQ="$HERE/requirements-nn.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "python-env: installing $REQ into $VENV" >&2
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
    echo "$want" > "$STAMP"
fi
echo "$VENV/bin/python"
