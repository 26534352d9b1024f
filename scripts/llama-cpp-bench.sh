#!/usr/bin/env bash
# llama.cpp on the same GGUF the LLM graph is converted from, for
# `clusterai bench llm`: builds llama-cpp-python (PyPI, sdist compiled here;
# cached in its own virtual environment) on first use, then prints
# {"tokens_per_s": ..., "prefill_256_s": ...} (medians of 3) for greedy decoding
# on 2 threads.
# Exits non-zero (the bench then leaves llama.cpp out) when it cannot be built.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
VERSION=0.3.16
VENV="$CLUSTERAI_CACHE/venv-llama-cpp-$VERSION"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "llama-cpp-bench: building llama-cpp-python $VERSION (once; several minutes)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "llama-cpp-python==$VERSION" >&2
fi
"$HERE/setup-models.sh" >/dev/null
sha="$(sed -n 's/^source_sha256 = "\(.*\)"/\1/p' "$HERE/../models/models.toml" | head -1)"
exec "$VENV/bin/python" - "$CLUSTERAI_MODELS_CACHE/sources/$sha.gguf" <<'PY'
import json, sys, time
from llama_cpp import Llama

llm = Llama(model_path=sys.argv[1], n_threads=2, n_ctx=2048, verbose=False)
prompt = [llm.tokenize(b"the")[0]] + [llm.tokenize(b" the")[0]] * 255
rates = []
prefill = []
for _ in range(3):
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    prefill.append(time.perf_counter() - started)
    llm.reset()
    llm.eval(prompt[:16])
    started = time.perf_counter()
    n = 64
    for _ in range(n):
        tok = llm.sample(temp=0.0)
        llm.eval([tok])
    rates.append(n / (time.perf_counter() - started))
print(json.dumps({"tokens_per_s": sorted(rates)[1], "prefill_256_s": sorted(prefill)[1]}))
PY
