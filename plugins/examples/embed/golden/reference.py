"""Golden file for the embed plugin, from the reference implementations:
Hugging Face `tokenizers` on all-MiniLM-L6-v2's tokenizer.json and ONNX
Runtime's Python API on the int8 model, mean-pooled and L2-normalised as
sentence-transformers does.

    $(scripts/python-env.sh) plugins/examples/embed/golden/reference.py

Reads sentences.txt, writes expected.json (token ids and embeddings).
"""
import json
import os
import sys
import tomllib

import blake3
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
CACHE = os.environ.get("CLUSTERAI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "clusterai")


def checked(name, ext):
    with open(os.path.join(ROOT, "models", "models.toml"), "rb") as f:
        entry = next(m for m in tomllib.load(f)["model"] if m["name"] == name)
    path = os.path.join(CACHE, "models", f"{name}{ext}")
    with open(path, "rb") as f:
        if blake3.blake3(f.read()).hexdigest() != entry["blake3"]:
            sys.exit(f"{path} does not match models/models.toml; run scripts/setup-models.sh")
    return path


def main():
    tok = Tokenizer.from_file(checked("minilm-tokenizer", ".json"))
    tok.no_padding()
    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        sentences = [l for l in f.read().splitlines() if l.strip()]
    tokens = [tok.encode(s).ids for s in sentences]
    n, seq = len(tokens), max(len(t) for t in tokens)
    ids = np.zeros((n, seq), dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    for i, t in enumerate(tokens):
        ids[i, : len(t)] = t
        mask[i, : len(t)] = 1
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(checked("minilm-l6-int8", ".onnx"), opts, providers=["CPUExecutionProvider"])
    (hidden,) = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    emb = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    out = {
        "onnxruntime": ort.__version__,
        "sentences": sentences,
        "tokens": tokens,
        "embeddings": [[round(float(x), 6) for x in row] for row in emb],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    sims = emb @ emb.T
    print("cosine similarities:\n", np.round(sims, 3))


if __name__ == "__main__":
    main()
