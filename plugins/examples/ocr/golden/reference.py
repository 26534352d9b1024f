"""Golden files for the ocr plugin, from ONNX Runtime's own Python API.

    $(scripts/python-env.sh) plugins/examples/ocr/golden/reference.py

1. Renders the test images with Pillow (text.png, and text.jpg from it).
2. Runs the plugin's pipeline -- the same pre- and post-processing as
   src/image.rs and src/pipeline.rs, step for step in float32 -- with the
   PP-OCR models on onnxruntime (Python), and writes expected.json (the
   plugin's output format) for each image.

The models come from scripts/setup-models.sh (the cache), checked against
models/models.toml by BLAKE3.
"""
import json
import os
import sys
import tomllib

import blake3
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
CACHE = os.environ.get("CLUSTERAI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "clusterai")
LINES = ["ClusterAI reads text", "in a wasm sandbox 2026"]

F = np.float32


def render():
    font = ImageFont.load_default(size=36)
    img = Image.new("RGB", (520, 150), "white")
    d = ImageDraw.Draw(img)
    d.text((24, 22), LINES[0], fill="black", font=font)
    d.text((24, 86), LINES[1], fill=(20, 20, 90), font=font)
    img.save(os.path.join(HERE, "text.png"), optimize=True)
    img.save(os.path.join(HERE, "text.jpg"), quality=92)


def rnd(x):
    """Rust's f32::round: half away from zero."""
    x = np.asarray(x, dtype=F)
    return (np.sign(x) * np.floor(np.abs(x) + F(0.5))).astype(F)


def resize(img, w, h):
    """image::resize: bilinear, half-pixel centres, float32."""
    H, W, _ = img.shape
    src = img.astype(F)

    def axis(n, scale, length):
        s = np.maximum((np.arange(n, dtype=F) + F(0.5)) * F(scale) - F(0.5), F(0))
        i0 = np.minimum(np.floor(s).astype(np.int64), length - 1)
        i1 = np.minimum(i0 + 1, length - 1)
        return i0, i1, (s - i0.astype(F)).astype(F)

    y0, y1, fy = axis(h, F(H) / F(h), H)
    x0, x1, fx = axis(w, F(W) / F(w), W)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    a, b = src[y0][:, x0], src[y0][:, x1]
    c, d = src[y1][:, x0], src[y1][:, x1]
    top = a * (F(1) - fx) + b * fx
    bottom = c * (F(1) - fx) + d * fx
    return (top * (F(1) - fy) + bottom * fy).astype(F)


def chw_bgr(px, pad_w):
    h, w, _ = px.shape
    out = np.zeros((3, h, pad_w), dtype=F)
    bgr = px[:, :, ::-1]
    out[:, :, :w] = ((bgr / F(255) - F(0.5)) / F(0.5)).transpose(2, 0, 1)
    return out


def det_size(w, h, max_side):
    long = F(max(w, h))
    ratio = F(max_side) / long if long > F(max_side) else F(1)
    r = lambda v: max(32, int(rnd(F(v) * ratio / F(32))) * 32)
    return r(w), r(h)


def regions(m, thresh):
    h, w = m.shape
    hot = m > F(thresh)
    b = np.zeros_like(hot)
    for dy, dx in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        b[dy:, dx:] |= hot[: h - dy, : w - dx]
    seen = np.zeros_like(b)
    out = []
    for start in np.flatnonzero(b):
        if seen.flat[start]:
            continue
        seen.flat[start] = True
        stack = [start]
        x0, y0, x1, y1 = w, h, 0, 0
        while stack:
            i = stack.pop()
            y, x = divmod(int(i), w)
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x + 1), max(y1, y + 1)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and b[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append(ny * w + nx)
        out.append((x0, y0, x1, y1))
    return out


def boxes_from_map(m, img_w, img_h, box_thresh=0.5, unclip_ratio=1.6):
    mh, mw = m.shape
    sx, sy = F(img_w) / F(mw), F(img_h) / F(mh)
    out = []
    for r in regions(m, 0.3):
        if min(r[2] - r[0], r[3] - r[1]) < 3:
            continue
        score = F(np.mean(m[r[1]:r[3], r[0]:r[2]].astype(np.float64)))
        if score < F(box_thresh):
            continue
        bw, bh = F(r[2] - r[0]), F(r[3] - r[1])
        dist = bw * bh * F(unclip_ratio) / (F(2) * (bw + bh))
        u = [F(r[0]) - dist, F(r[1]) - dist, F(r[2]) + dist, F(r[3]) + dist]
        if min(u[2] - u[0], u[3] - u[1]) < F(5):
            continue
        cx = lambda v: int(min(max(rnd(v * sx), F(0)), F(img_w)))
        cy = lambda v: int(min(max(rnd(v * sy), F(0)), F(img_h)))
        bb = [cx(u[0]), cy(u[1]), cx(u[2]), cy(u[3])]
        if bb[2] > bb[0] and bb[3] > bb[1]:
            out.append(bb)
        if len(out) >= 200:
            break
    out.sort(key=lambda b: (b[1], b[0]))
    for i in range(1, len(out)):
        j = i
        while j > 0 and abs(out[j][1] - out[j - 1][1]) < 10 and out[j][0] < out[j - 1][0]:
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def line_tensor(crop, max_w, pad_w):
    h, w, _ = crop.shape
    ratio = F(w) / F(h)
    nw = min(max(int(np.ceil(F(48) * ratio)), 1), max_w)
    return chw_bgr(resize(crop, nw, 48), pad_w)


def rec_width(crop):
    h, w, _ = crop.shape
    return min(max(int(np.ceil(F(48) * (F(w) / F(h)))), 320), 3200)


def ctc(probs, chars):
    text, total, kept, prev = "", F(0), 0, 0
    for row in probs:
        best = int(np.argmax(row))
        if best != 0 and best != prev and best - 1 < len(chars):
            text += chars[best - 1]
            total += row[best]
            kept += 1
        prev = best
    return text, (total / F(kept)) if kept else F(0)


def model(name, manifest):
    entry = next(m for m in manifest["model"] if m["name"] == name)
    path = os.path.join(CACHE, "models", f"{name}.onnx")
    with open(path, "rb") as f:
        got = blake3.blake3(f.read()).hexdigest()
    if got != entry["blake3"]:
        sys.exit(f"{path}: BLAKE3 {got}, models.toml says {entry['blake3']}; run scripts/setup-models.sh")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ocr(img, det, cls, rec, chars):
    h, w, _ = img.shape
    dw, dh = det_size(w, h, 960)
    x = chw_bgr(resize(img, dw, dh), dw)[None]
    (m,) = det.run(None, {"x": x})
    boxes = boxes_from_map(m[0, 0], w, h)
    crops = [img[b[1]:b[3], b[0]:b[2]] for b in boxes]
    lines = []
    if crops:
        x = np.stack([line_tensor(c, 192, 192) for c in crops])
        (p,) = cls.run(None, {"x": x})
        rotated = [bool(p[i, 1] > p[i, 0] and p[i, 1] >= F(0.9)) for i in range(len(crops))]
        crops = [c[::-1, ::-1] if r else c for c, r in zip(crops, rotated)]
        for b, c, r in zip(boxes, crops, rotated):
            wdt = rec_width(c)
            (p,) = rec.run(None, {"x": line_tensor(c, wdt, wdt)[None]})
            text, score = ctc(p[0], chars)
            lines.append({"text": text, "score": round(float(score) * 1e4) / 1e4, "box": b, "rotated": r})
    return {"text": "\n".join(l["text"] for l in lines), "lines": lines}


def main():
    render()
    with open(os.path.join(ROOT, "models", "models.toml"), "rb") as f:
        manifest = tomllib.load(f)
    det, cls, rec = (model(n, manifest) for n in ("ppocr-det", "ppocr-cls", "ppocr-rec"))
    meta = rec.get_modelmeta().custom_metadata_map["character"]
    with open(os.path.join(HERE, "..", "src", "ppocr_keys_v1.txt"), encoding="utf-8") as f:
        dict_text = f.read()
    if dict_text.rstrip("\n") != meta:
        sys.exit("src/ppocr_keys_v1.txt differs from the rec model's character metadata")
    chars = dict_text.splitlines() + [" "]
    expected = {"onnxruntime": ort.__version__, "images": {}}
    for name in ("text.png", "text.jpg"):
        img = np.asarray(Image.open(os.path.join(HERE, name)).convert("RGB"))
        expected["images"][name] = ocr(img, det, cls, rec, chars)
        print(name, json.dumps(expected["images"][name]["text"]))
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
