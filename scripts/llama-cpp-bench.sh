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
the, the_ = llm.tokenize(b"the", add_bos=False)[0], llm.tokenize(b" the", add_bos=False)[0]


def generate(n_prompt, n_new):
    """Greedy generation through llama.cpp's own loop, streamed: (seconds to
    the first token, tokens per second after it)."""
    llm.reset()
    prompt = [the] + [the_] * (n_prompt - 1)
    times = []
    started = time.perf_counter()
    for _ in llm.create_completion(prompt, max_tokens=n_new, temperature=0.0, stream=True):
        times.append(time.perf_counter())
    return times[0] - started, (len(times) - 1) / (times[-1] - times[0])


generate(16, 4)
rates = sorted(generate(16, 64)[1] for _ in range(3))
ttft_256 = sorted(generate(256, 2)[0] for _ in range(3))
print(json.dumps({"tokens_per_s": rates[1], "prefill_256_s": ttft_256[1]}))
PY
