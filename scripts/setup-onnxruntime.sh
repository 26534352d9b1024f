#!/usr/bin/env bash
# Provisions the pinned ONNX Runtime shared library for the host (clusterai-nn).
#
# Fetches the PyPI wheel onnxruntime==1.32.0 with pip (the only registry this
# needs), extracts onnxruntime/capi/libonnxruntime.so.1.32.0 into a cache
# outside the repository, checks its SHA-256 and prints its path. Idempotent:
# a verified library already in the cache is left alone and no network is used.
#
#   scripts/setup-onnxruntime.sh            # prints the library path
#   export ORT_DYLIB_PATH="$(scripts/setup-onnxruntime.sh)"
#
# The host finds the library through ORT_DYLIB_PATH, or at the default path
# printed here when ORT_DYLIB_PATH is unset.
#
# Environment:
#   CLUSTERAI_CACHE   cache root (default: $HOME/.cache/clusterai)
#   CLUSTERAI_WHEELS  a folder that already holds the wheel (offline machines)
set -euo pipefail

VERSION=1.32.0
LIB=libonnxruntime.so.${VERSION}
# SHA-256 of onnxruntime/capi/libonnxruntime.so.1.32.0 inside
# onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl (CPU build).
LIB_SHA256=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f

CACHE="${CLUSTERAI_CACHE:-$HOME/.cache/clusterai}"
DEST="$CACHE/onnxruntime/$VERSION"
TARGET="$DEST/$LIB"

say() { echo "setup-onnxruntime: $*" >&2; }

verify() {
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$LIB_SHA256" ]
}

if verify "$TARGET"; then
    echo "$TARGET"
    exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    say "this script pins the Linux x86_64 build; on $(uname -s)-$(uname -m) set ORT_DYLIB_PATH to an ONNX Runtime $VERSION library yourself"
    exit 1
fi

mkdir -p "$DEST"
WHEELS="${CLUSTERAI_WHEELS:-$CACHE/wheels}"
mkdir -p "$WHEELS"
WHEEL="$(ls "$WHEELS"/onnxruntime-"$VERSION"-cp311-cp311-manylinux_2_28_x86_64.whl 2>/dev/null | head -n1 || true)"
if [ -z "$WHEEL" ]; then
    command -v pip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || {
        say "needs pip (python3 -m pip) to fetch onnxruntime==$VERSION from PyPI"
        exit 1
    }
    say "fetching onnxruntime==$VERSION from PyPI into $WHEELS"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_28_x86_64 \
        "onnxruntime==$VERSION" -d "$WHEELS" >&2
    WHEEL="$(ls "$WHEELS"/onnxruntime-"$VERSION"-cp311-cp311-manylinux_2_28_x86_64.whl)"
fi

TMP="$(mktemp -d "$DEST/.extract.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
python3 - "$WHEEL" "$TMP/$LIB" "onnxruntime/capi/$LIB" <<'PY'
import shutil, sys, zipfile
wheel, out, member = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

if ! verify "$TMP/$LIB"; then
    say "SHA-256 of $LIB from $WHEEL is $(sha256sum "$TMP/$LIB" | cut -d' ' -f1), expected $LIB_SHA256; refusing it"
    exit 1
fi
mv -f "$TMP/$LIB" "$TARGET"
say "installed $TARGET ($(stat -c %s "$TARGET") bytes, sha256 ok)"
echo "$TARGET"
