#!/usr/bin/env bash
# Checks the converted LLM graph against a plain-numpy forward pass of the
# GGUF it came from (scripts/llm_reference.py) and prints the greedy
# continuation of a fixed prompt, which the chat plugin's golden test pins.
#
#   scripts/llm-reference.sh [--json]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
"$HERE/setup-models.sh" >/dev/null
PY="$("$HERE/python-env.sh")"
sha="$(sed -n 's/^source_sha256 = "\(.*\)"/\1/p' "$HERE/../models/models.toml" | head -1)"
gguf="$CLUSTERAI_MODELS_CACHE/sources/$sha.gguf"
exec "$PY" "$HERE/llm_reference.py" "$gguf" "$CLUSTERAI_MODELS_CACHE/smollm2-135m.onnx" "$@"
