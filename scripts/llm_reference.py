"""Checks the converted LLM graph against a plain-numpy forward pass of the
same GGUF, written from the Llama architecture alone: weights dequantised by
the `gguf` package's own ggml routines, RMS norm, rotary embedding on
adjacent pairs (ggml's order), grouped-query attention, SwiGLU, tied head.

    scripts/llm-reference.sh [--json]

(or directly: llm_reference.py GGUF ONNX [--json]).

It runs a fixed prompt through both and compares the last position's
logits twice: a variant of the graph with float activations must match to
rounding (the conversion is exact), and the graph as shipped (4-bit matmuls
with 8-bit activations, ONNX Runtime's fast CPU path) within a small bound.
Then it decodes greedily with both: the graph through its KV cache one token
per step, numpy over the whole sequence each step; the tokens must agree.
Exits 1 when anything disagrees.
It prints the greedy continuation's token ids, which the chat plugin's golden
test pins.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from gguf import GGUFReader
from gguf.quants import dequantize
from tokenizers import Tokenizer

PROMPT = "Once upon a time"
STEPS = 24
# Bounds for the last-position logits (they span about 30): float activations
# match to rounding; 8-bit activations move logits by about 1.
MAX_EXACT_DIFF = 1e-3
MAX_ABS_DIFF = 1.5
MIN_TOP5_OVERLAP = 4


def weights(reader):
    out = {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type)
        out[t.name] = np.asarray(w, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
    return out


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, base):
    # x [S, heads, head_dim]; ggml's normal mode rotates adjacent pairs.
    head_dim = x.shape[-1]
    inv = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    ang = np.outer(pos, inv)[:, None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x, dtype=np.float64)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out.astype(np.float32)


def forward(w, hp, ids):
    """Logits of the last position of `ids`, from scratch."""
    dim, heads, kvh = hp["dim"], hp["heads"], hp["kv_heads"]
    hd = dim // heads
    s = len(ids)
    pos = np.arange(s)
    h = w["token_embd.weight"][ids]
    mask = np.triu(np.full((s, s), -np.inf, np.float32), 1)
    for i in range(hp["layers"]):
        p = f"blk.{i}."
        x = rms_norm(h, w[p + "attn_norm.weight"], hp["eps"])
        q = rope((x @ w[p + "attn_q.weight"].T).reshape(s, heads, hd), pos, hp["rope_base"])
        k = rope((x @ w[p + "attn_k.weight"].T).reshape(s, kvh, hd), pos, hp["rope_base"])
        v = (x @ w[p + "attn_v.weight"].T).reshape(s, kvh, hd)
        group = heads // kvh
        out = np.empty((s, heads, hd), np.float32)
        for hh in range(heads):
            kk, vv = k[:, hh // group], v[:, hh // group]
            scores = q[:, hh] @ kk.T / np.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            out[:, hh] = (scores / scores.sum(axis=-1, keepdims=True)) @ vv
        h = h + out.reshape(s, dim) @ w[p + "attn_output.weight"].T
        x = rms_norm(h, w[p + "ffn_norm.weight"], hp["eps"])
        gate = x @ w[p + "ffn_gate.weight"].T
        up = x @ w[p + "ffn_up.weight"].T
        h = h + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
    last = rms_norm(h[-1], w["output_norm.weight"], hp["eps"])
    return last @ w["token_embd.weight"].T


def graph_steps(session, first_ids, steps, layers, kv_heads, head_dim):
    """Greedy decoding through the graph and its KV cache; returns the
    first step's logits and the generated ids."""
    feeds = {"input_ids": np.array([first_ids], np.int64)}
    for i in range(layers):
        for n in ("past_key", "past_value"):
            feeds[f"{n}.{i}"] = np.zeros((1, kv_heads, 0, head_dim), np.float32)
    names = [o.name for o in session.get_outputs()]
    first, out = None, []
    for _ in range(steps):
        res = dict(zip(names, session.run(None, feeds)))
        logits = res["logits"][0]
        if first is None:
            first = logits
        nxt = int(np.argmax(logits))
        out.append(nxt)
        feeds = {"input_ids": np.array([[nxt]], np.int64)}
        for i in range(layers):
            feeds[f"past_key.{i}"] = res[f"present_key.{i}"]
            feeds[f"past_value.{i}"] = res[f"present_value.{i}"]
    return first, out


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llm_convert

    gguf_path, onnx_path = sys.argv[1:3]
    as_json = "--json" in sys.argv[3:]
    reader = GGUFReader(gguf_path)
    hp = llm_convert.hparams(reader)
    w = weights(reader)
    tok = Tokenizer.from_str(json.dumps(llm_convert.hf_tokenizer_json(reader)))
    ids = tok.encode(PROMPT).ids

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    head_dim = hp["dim"] // hp["heads"]
    graph_first, graph_ids = graph_steps(session, ids, STEPS, hp["layers"], hp["kv_heads"], head_dim)
    llm_convert.ACCURACY_LEVEL = 0
    exact = ort.InferenceSession(llm_convert.build_onnx(reader), opts, providers=["CPUExecutionProvider"])
    exact_first, _ = graph_steps(exact, ids, 1, hp["layers"], hp["kv_heads"], head_dim)

    ref_first = forward(w, hp, ids)
    ref_ids, seq = [], list(ids)
    for _ in range(STEPS):
        nxt = int(np.argmax(forward(w, hp, seq) if ref_ids else ref_first))
        ref_ids.append(nxt)
        seq.append(nxt)

    exact_diff = float(np.abs(exact_first - ref_first).max())
    diff = float(np.abs(graph_first - ref_first).max())
    top5 = len(set(np.argsort(-graph_first)[:5]) & set(np.argsort(-ref_first)[:5]))
    agree = next((i for i, (a, b) in enumerate(zip(graph_ids, ref_ids)) if a != b), STEPS)
    report = {
        "prompt": PROMPT,
        "prompt_ids": ids,
        "max_abs_logit_diff_float_activations": exact_diff,
        "max_abs_logit_diff": diff,
        "top5_overlap": top5,
        "greedy_ids": graph_ids,
        "reference_ids": ref_ids,
        "greedy_text": tok.decode(graph_ids),
        "agreeing_tokens": agree,
    }
    if as_json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    ok = exact_diff <= MAX_EXACT_DIFF and diff <= MAX_ABS_DIFF and top5 >= MIN_TOP5_OVERLAP and agree == STEPS
    if not ok:
        print(f"llm-reference: the graph disagrees with the numpy forward pass "
              f"(max diff with float activations {exact_diff:.6f} <= {MAX_EXACT_DIFF}, "
              f"as shipped {diff:.4f} <= {MAX_ABS_DIFF}, top-5 overlap {top5} >= {MIN_TOP5_OVERLAP}, "
              f"greedy tokens agreeing {agree} of {STEPS})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
