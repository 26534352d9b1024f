"""Converts a Llama-architecture GGUF (SmolLM2-135M-Instruct, Q4_1) into what
the chat plugin runs: an ONNX decoder graph and a tokenizer blob.

The graph (`build_onnx`):
- inputs `input_ids` int64 [1, S] and, per layer i, `past_key.i` and
  `past_value.i` float [1, kv_heads, P, head_dim] (P = 0 on the first step);
- outputs `logits` float [1, vocab] of the last position only, `argmax`
  int64 [1] (the greedy choice: the first largest logit), and
  `present_key.i` / `present_value.i` float [1, kv_heads, P + S, head_dim],
  which the caller feeds back as the next step's past: a decoding step costs
  one token, not the whole sequence.
- Weights keep the GGUF's own quantisation, losslessly: every Q4_1 matrix
  becomes a 4-bit `MatMulNBits` (block 32, scale d, zero point -m/d, so
  (q - zp) * d = d*q + m exactly as ggml dequantises), the Q8_0 embedding
  table an int8 `Gather` with per-block scales, and the tied output head an
  8-bit `MatMulNBits` (q + 128 with zero point 128). Attention is ONNX
  Runtime's `GroupQueryAttention` with rotary embedding (ggml's adjacent-pair
  rotation: the GGUF's q/k rows are in that order).

The tokenizer blob (`build_tokenizer`): the GGUF's vocabulary, merges,
control tokens and Jinja chat template in a compact binary form the plugin
reads without parsing (format below). `hf_tokenizer_json` gives the same
tokenizer as a Hugging Face `tokenizer.json` (byte-level BPE, digits split one
by one), which the reference scripts feed to the Python `tokenizers` package.

Tokenizer blob, little-endian u32s unless said:
    b"CLTK" version(=1)
    vocab_size bos_id eos_id context_length
    n_special, n_special ids (the control tokens)
    offsets[vocab_size + 1] (into the token bytes), bytes_len, token bytes
        (each token's bytes: byte-level characters mapped back to bytes; a
        control token's text as it is), padded to 4 bytes
    n_merges, n_merges x (left, right, rank, merged), sorted by (left, right)
    template_len, the chat template (UTF-8)

Deterministic: the same GGUF always gives the same bytes (their BLAKE3 is
pinned in models/models.toml).
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The context the graph serves (positions of the rotary tables); the model was
# trained to 8192, 2048 keeps the KV cache of a full context under 100 MB.
CONTEXT = 2048
QK = 32  # ggml block size of Q4_1 and Q8_0
# MatMulNBits computes with 8-bit activations (4): on AVX2 about 3x the
# tokens per second of float activations (0), for logits within about 1 of
# the float forward pass and the same greedy tokens (scripts/llm_reference.py).
ACCURACY_LEVEL = 4


def field(reader, key):
    f = reader.fields[key]
    return f.contents()


def hparams(reader):
    p = "llama."
    return {
        "layers": int(field(reader, p + "block_count")),
        "dim": int(field(reader, p + "embedding_length")),
        "ffn": int(field(reader, p + "feed_forward_length")),
        "heads": int(field(reader, p + "attention.head_count")),
        "kv_heads": int(field(reader, p + "attention.head_count_kv")),
        "rope_base": float(field(reader, p + "rope.freq_base")),
        "eps": float(field(reader, p + "attention.layer_norm_rms_epsilon")),
        "vocab": int(field(reader, p + "vocab_size")),
    }


def tensors(reader):
    return {t.name: t for t in reader.tensors}


def q4_1_parts(t):
    """A Q4_1 matrix [rows, cols] as (q uint8 [rows, cols], d, m float32 [rows, blocks])."""
    rows = int(t.shape[1])
    cols = int(t.shape[0])
    blocks = cols // QK
    raw = np.ascontiguousarray(t.data).reshape(rows, blocks, 20)
    d = raw[:, :, 0:2].copy().view(np.float16).reshape(rows, blocks).astype(np.float32)
    m = raw[:, :, 2:4].copy().view(np.float16).reshape(rows, blocks).astype(np.float32)
    qs = raw[:, :, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(rows, cols)
    return q, d, m


def q8_0_parts(t):
    """A Q8_0 matrix [rows, cols] as (q int8 [rows, cols], d float32 [rows, blocks])."""
    rows = int(t.shape[1])
    cols = int(t.shape[0])
    blocks = cols // QK
    raw = np.ascontiguousarray(t.data).reshape(rows, blocks, 34)
    d = raw[:, :, 0:2].copy().view(np.float16).reshape(rows, blocks).astype(np.float32)
    q = raw[:, :, 2:34].copy().view(np.int8).reshape(rows, cols)
    return q, d


class Graph:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.n = 0

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, outputs=1, name=None, domain=None, **attrs):
        self.n += 1
        base = name or f"{op_type.lower()}_{self.n}"
        outs = [base] if outputs == 1 else [f"{base}:{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs

    def matmul_q4(self, x, ts, name):
        """x @ W^T for Q4_1 matrices `ts` sharing the input x, as one 4-bit
        MatMulNBits (their rows stacked) split back into one output each.

        Q4_1 dequantises a block as d*q + m. MatMulNBits' fast kernels take
        symmetric 4-bit blocks, (q - 8) * d, so the rest, (m + 8d) summed
        against the block's inputs, is a small float matmul of the block sums
        of x: exact in arithmetic, and cheap (one value per block)."""
        parts = [q4_1_parts(t) for t in ts]
        q = np.concatenate([p[0] for p in parts])
        d = np.concatenate([p[1] for p in parts])
        m = np.concatenate([p[2] for p in parts])
        rows, cols = q.shape
        blocks = cols // QK
        packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(rows, blocks, QK // 2)
        y = self.op(
            "MatMulNBits",
            [x, self.const(name + ".qweight", packed), self.const(name + ".scales", d.reshape(-1))],
            name=name, domain="com.microsoft", K=cols, N=rows, bits=4, block_size=QK,
            accuracy_level=ACCURACY_LEVEL,
        )
        sums = self.op("ReduceSum", [
            self.op("Reshape", [x, self.const(name + ".blocks_shape", np.array([1, -1, blocks, QK], np.int64))],
                    name=name + ".blocks"),
            self.const(name + ".sum_axis", np.array([-1], np.int64)),
        ], name=name + ".block_sums", keepdims=0)
        offset = (m + 8.0 * d).astype(np.float32)  # [rows, blocks]
        corr = self.op("MatMul", [sums, self.const(name + ".offsets", np.ascontiguousarray(offset.T))],
                       name=name + ".offset")
        y = self.op("Add", [y, corr], name=name + ".sum")
        if len(ts) == 1:
            return y
        sizes = self.const(name + ".split", np.array([p[0].shape[0] for p in parts], np.int64))
        return self.op("Split", [y, sizes], outputs=len(ts), name=name + ".parts", axis=-1)


def build_onnx(reader):
    hp = hparams(reader)
    ts = tensors(reader)
    dim, heads, kv_heads = hp["dim"], hp["heads"], hp["kv_heads"]
    head_dim = dim // heads
    g = Graph()

    # The embedding table is also the output head (tied): one copy, as
    # unsigned bytes q + 128 (exact for Q8_0's int8) with per-block scales.
    emb_q, emb_d = q8_0_parts(ts["token_embd.weight"])
    vocab = emb_q.shape[0]
    table = g.const("embed.q", (emb_q.astype(np.int16) + 128).astype(np.uint8).reshape(vocab, dim // QK, QK))
    emb_scales = g.const("embed.scales", emb_d.reshape(-1))
    ids = "input_ids"
    rows = g.op("Gather", [table, ids], name="embed_rows", axis=0)  # [1, S, blocks, 32]
    scales = g.op("Gather", [g.op("Reshape", [emb_scales, g.const("embed.scales_shape",
                                                                   np.array([vocab, dim // QK, 1], np.int64))],
                                  name="embed_scale_rows"), ids], name="embed_scales", axis=0)
    centred = g.op("Sub", [g.op("Cast", [rows], name="embed_cast", to=TensorProto.FLOAT),
                           g.const("embed.zero", np.array(128.0, np.float32))], name="embed_centred")
    deq = g.op("Mul", [centred, scales], name="embed_deq")
    h = g.op("Reshape", [deq, g.const("embed.out_shape", np.array([1, -1, dim], np.int64))], name="embed")

    # Lengths for attention: total = past + new; seqlens_k = total - 1.
    past_len = g.op("Shape", ["past_key.0"], name="past_len", start=2, end=3)
    new_len = g.op("Shape", [ids], name="new_len", start=1, end=2)
    total = g.op("Add", [past_len, new_len], name="total_len")
    total_i32 = g.op("Cast", [total], name="total_i32", to=TensorProto.INT32)
    seqlens_k = g.op("Sub", [total_i32, g.const("one_i32", np.array([1], np.int32))], name="seqlens_k")
    total_scalar = g.op("Squeeze", [total_i32, g.const("axis0", np.array([0], np.int64))], name="total_seq")

    # Rotary tables for positions 0..CONTEXT-1.
    inv = 1.0 / (hp["rope_base"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    ang = np.outer(np.arange(CONTEXT, dtype=np.float64), inv)
    cos = g.const("rope.cos", np.cos(ang).astype(np.float32))
    sin = g.const("rope.sin", np.sin(ang).astype(np.float32))

    eps = hp["eps"]
    inputs = [helper.make_tensor_value_info(ids, TensorProto.INT64, [1, "sequence"])]
    outputs = []
    for i in range(hp["layers"]):
        p = f"blk.{i}."
        pk, pv = f"past_key.{i}", f"past_value.{i}"
        for n in (pk, pv):
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, kv_heads, "past", head_dim]))
        normed = g.op("RMSNormalization",
                      [h, g.const(p + "attn_norm.weight", ts[p + "attn_norm.weight"].data.astype(np.float32))],
                      name=p + "attn_norm", axis=-1, epsilon=eps)
        q, k, v = g.matmul_q4(normed, [ts[p + n] for n in ("attn_q.weight", "attn_k.weight", "attn_v.weight")], p + "qkv")
        attn, present_k, present_v = g.op(
            "GroupQueryAttention", [q, k, v, pk, pv, seqlens_k, total_scalar, cos, sin],
            outputs=3, name=p + "attn", domain="com.microsoft",
            num_heads=heads, kv_num_heads=kv_heads, do_rotary=1, rotary_interleaved=1,
            scale=float(1.0 / np.sqrt(head_dim)),
        )
        g.nodes.append(helper.make_node("Identity", [present_k], [f"present_key.{i}"], name=f"present_key.{i}"))
        g.nodes.append(helper.make_node("Identity", [present_v], [f"present_value.{i}"], name=f"present_value.{i}"))
        for n in (f"present_key.{i}", f"present_value.{i}"):
            outputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, kv_heads, "total", head_dim]))
        o = g.matmul_q4(attn, [ts[p + "attn_output.weight"]], p + "o")
        h = g.op("Add", [h, o], name=p + "attn_residual")
        normed = g.op("RMSNormalization",
                      [h, g.const(p + "ffn_norm.weight", ts[p + "ffn_norm.weight"].data.astype(np.float32))],
                      name=p + "ffn_norm", axis=-1, epsilon=eps)
        gate, up = g.matmul_q4(normed, [ts[p + "ffn_gate.weight"], ts[p + "ffn_up.weight"]], p + "gate_up")
        act = g.op("Mul", [gate, g.op("Sigmoid", [gate], name=p + "gate_sigmoid")], name=p + "silu")
        down = g.matmul_q4(g.op("Mul", [act, up], name=p + "glu"), [ts[p + "ffn_down.weight"]], p + "down")
        h = g.op("Add", [h, down], name=p + "ffn_residual")

    # Only the last position's logits: the head is the largest matmul.
    last = g.op("Gather", [h, g.const("last_index", np.array(-1, np.int64))], name="last_position", axis=1)
    normed = g.op("RMSNormalization",
                  [last, g.const("output_norm.weight", ts["output_norm.weight"].data.astype(np.float32))],
                  name="output_norm", axis=-1, epsilon=eps)
    g.op("MatMulNBits",
         [normed, table, emb_scales, g.const("head.zeros", np.full(vocab * (dim // QK), 128, np.uint8))],
         name="logits", domain="com.microsoft", K=dim, N=vocab, bits=8, block_size=QK, accuracy_level=ACCURACY_LEVEL)
    # The greedy choice, so that a greedy decoder reads 8 bytes, not the logits.
    g.nodes.append(helper.make_node("ArgMax", ["logits"], ["argmax"], name="argmax", axis=1, keepdims=0,
                                    select_last_index=0))
    outputs.insert(0, helper.make_tensor_value_info("argmax", TensorProto.INT64, [1]))
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, vocab]))

    graph = helper.make_graph(g.nodes, "smollm2", inputs, outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 23), helper.make_opsetid("com.microsoft", 1)],
        producer_name="clusterai-llm-convert",
        producer_version="1",
    )
    model.ir_version = 11
    onnx.checker.check_model(model)
    return model.SerializeToString()


def gguf_vocab(reader):
    """(tokens, kinds, merges as (a, b) strings) of the GGUF."""
    f = reader.fields
    toks = f["tokenizer.ggml.tokens"]
    types = f["tokenizer.ggml.token_type"]
    merges = f["tokenizer.ggml.merges"]
    tokens = [bytes(toks.parts[i]).decode("utf-8") for i in toks.data]
    kinds = [int(types.parts[i][0]) for i in types.data]
    pairs = [bytes(merges.parts[i]).decode("utf-8").split(" ", 1) for i in merges.data]
    return tokens, kinds, pairs


def hf_tokenizer_json(reader):
    """The GGUF's tokenizer as a Hugging Face tokenizer.json (a dict)."""
    tokens, kinds, pairs = gguf_vocab(reader)
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (t, k) in enumerate(zip(tokens, kinds)) if k == 3  # control tokens
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": [f"{a} {b}" for a, b in pairs],
        },
    }


def byte_chars():
    """GPT-2's map of byte-level characters back to bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in printable:
            out[chr(b)] = b
        else:
            out[chr(256 + n)] = b
            n += 1
    return out


def build_tokenizer(reader):
    import struct

    tokens, kinds, pairs = gguf_vocab(reader)
    special = [i for i, k in enumerate(kinds) if k == 3]
    back = byte_chars()
    vocab = {t: i for i, t in enumerate(tokens)}
    blob = bytearray()
    offsets, data = [0], bytearray()
    for i, t in enumerate(tokens):
        if kinds[i] == 3:
            data += t.encode("utf-8")
        else:
            data += bytes(back[c] for c in t if c in back)
        offsets.append(len(data))
    n_bytes = len(data)
    while len(data) % 4:
        data.append(0)
    merges = []
    for rank, (a, b) in enumerate(pairs):
        key = (vocab[a], vocab[b])
        merges.append((key[0], key[1], rank, vocab[a + b]))
    # The first rank of a repeated pair is the one that applies.
    first = {}
    for m in merges:
        first.setdefault((m[0], m[1]), m)
    merges = sorted(first.values())
    template = str(field(reader, "tokenizer.chat_template")).encode("utf-8")
    u32 = lambda *v: struct.pack(f"<{len(v)}I", *v)
    blob += b"CLTK" + u32(1)
    blob += u32(len(tokens), int(field(reader, "tokenizer.ggml.bos_token_id")),
                int(field(reader, "tokenizer.ggml.eos_token_id")), CONTEXT)
    blob += u32(len(special), *special)
    blob += u32(*offsets) + u32(n_bytes) + bytes(data)
    blob += u32(len(merges))
    for m in merges:
        blob += u32(*m)
    blob += u32(len(template)) + template
    return bytes(blob)


CONVERTERS = {"llama-onnx": build_onnx, "llama-tokenizer": build_tokenizer}


def convert(kind, gguf_path):
    from gguf import GGUFReader

    return CONVERTERS[kind](GGUFReader(gguf_path))
