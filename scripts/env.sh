# Sourced by every script: the node's folders and the pinned versions.
#
# The folders follow the rules of the Rust module that defines them
# (clusterai_types::env; `clusterai env` prints them); a test checks that
# this file and the module agree. Versions come from pins.toml.
#
# Sets and exports: CLUSTERAI_DATA_DIR, CLUSTERAI_CACHE, CLUSTERAI_WHEELS,
# CLUSTERAI_MODELS_CACHE, CLUSTERAI_COMPILED, ORT_VERSION, ORT_LIBRARY;
# defines `pin KEY` (e.g. `pin onnxruntime.version`).

CLUSTERAI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# `pin section.key`: a value of pins.toml.
pin() {
    python3 - "$CLUSTERAI_ROOT/pins.toml" "$1" <<'PY'
import sys, tomllib
value = tomllib.load(open(sys.argv[1], "rb"))
for key in sys.argv[2].split("."):
    value = value[key]
print(",".join(map(str, value)) if isinstance(value, list) else value)
PY
}

# An XDG base directory: the variable when it holds an absolute path, else
# $HOME/<fallback>.
_clusterai_xdg() {
    case "${1:-}" in
        /*) printf '%s' "$1" ;;
        *) printf '%s/%s' "${HOME%/}" "$2" ;;
    esac
}

if [ -z "${CLUSTERAI_DATA_DIR:-}" ]; then
    CLUSTERAI_DATA_DIR="$(_clusterai_xdg "${XDG_DATA_HOME:-}" .local/share)/clusterai"
fi
if [ -z "${CLUSTERAI_CACHE:-}" ]; then
    CLUSTERAI_CACHE="$(_clusterai_xdg "${XDG_CACHE_HOME:-}" .cache)/clusterai"
fi
if [ -z "${CLUSTERAI_WHEELS:-}" ]; then
    CLUSTERAI_WHEELS="$CLUSTERAI_CACHE/wheels"
fi
CLUSTERAI_MODELS_CACHE="$CLUSTERAI_CACHE/models"
CLUSTERAI_COMPILED="$CLUSTERAI_CACHE/compiled"
ORT_VERSION="$(pin onnxruntime.version)"
ORT_LIBRARY="${ORT_DYLIB_PATH:-$CLUSTERAI_CACHE/onnxruntime/$ORT_VERSION/$(pin onnxruntime.library)}"
export CLUSTERAI_DATA_DIR CLUSTERAI_CACHE CLUSTERAI_WHEELS CLUSTERAI_MODELS_CACHE \
    CLUSTERAI_COMPILED ORT_VERSION ORT_LIBRARY
